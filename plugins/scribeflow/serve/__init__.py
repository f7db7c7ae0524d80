"""What people open in a browser or call over HTTP: the search API and page (``api``), the
player and media of local files (``player``), and a video's results page (``results``).

May import: core, sources, writing, index.
"""
