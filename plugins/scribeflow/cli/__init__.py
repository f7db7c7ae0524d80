"""The ``scribeflow`` command: its parser and commands, and ``doctor``.

May import: every room.
"""
