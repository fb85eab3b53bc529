"""The build pipeline: planning a video's segments (``plan``), committing finished videos in library order
(``commit``), bringing an index up to date with a library (``update``, its options in ``options``), and the two
runners of decode and embed: worker processes on this machine (``local``, its pool in ``workers``) or a Ray
cluster (``ray``). Importing the package loads nothing; each module imports what it uses."""
