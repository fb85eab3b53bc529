"""The index dir, the contract between the offline and online sides: its layout, manifest, catalog, writer and
read side, and the search over its vectors. Importing the package loads nothing; each module imports what it uses."""
