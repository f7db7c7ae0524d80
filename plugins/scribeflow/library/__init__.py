"""The library across videos: which videos were stored and when (``stored``), the digest of
what the channels said in a period as Markdown, HTML and Atom (``digest``, ``feed``), and
answers to questions from the stored passages, with citations (``ask``).

May import: core, writing, index.
"""
