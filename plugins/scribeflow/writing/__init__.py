"""Text from a transcript: chunking, the prompt templates, the one LLM client, the document
stages and the preamble filter, chapters, quiz, quality score and their structured answers
(``study``, ``answers``), translations checked for their language (``translation``), and the
HTML/PDF renderings.

May import: core.
"""
