"""Jinja2 templates and static assets of the search page (a package so that installs carry them)."""
