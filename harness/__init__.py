"""Intilery identity harness: prove in a real browser how a tracking snippet manages identity."""

__version__ = "0.1.0"
