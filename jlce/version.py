"""JLCE's version, in a module that imports nothing (the package's `__init__` imports the API)."""

__version__ = "0.1.0"
