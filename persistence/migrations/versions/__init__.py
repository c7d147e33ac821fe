"""Migration revisions, one file each, named by their human-readable revision id (``0001_initial``)."""
