"""Text from a transcript: chunking, the prompt templates, the one LLM client, the document
stages and the preamble filter, chapters, quiz, quality score, the summary (``summarize``)
and their structured answers (``study``, ``answers``), answers that cite passages
(``cited``), translations checked for their language (``translation``), the document's
opening (``overview``), and the HTML/PDF renderings.

May import: core.
"""
