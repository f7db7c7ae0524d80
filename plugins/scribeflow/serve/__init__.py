"""What people open in a browser or call over HTTP: the search API and page (``api``), the
player and media of local files (``player``), a video's results page (``results``), the
library's answers and digests (``library``), and queries' vectors from a model host
(``queries``).

May import: core, sources, writing, index, library, hosts.
"""
