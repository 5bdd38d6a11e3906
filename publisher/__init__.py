"""publisher: Atom/RSS feeds and an email digest from a folder of Jekyll-style posts."""

__version__ = "0.1.0"
