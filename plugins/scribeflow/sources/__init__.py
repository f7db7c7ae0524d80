"""Where videos come from: fetching a video's audio (yt-dlp or a local file), probing and
decoding media, video sites and their blocks, cookies, RSS/Atom feeds, listing what a source
published, and the sources file (``catalog``: the channels Scribeflow follows).

May import: core.
"""
