"""Question answering over news articles with verified citations.

Importing the package first pins the process to offline behaviour (see `rag.offline`),
so every entry point (CLI, API, evals, tests) gets it without remembering to.
"""

from rag import offline as _offline

_offline.configure()

__all__ = ["__version__"]
__version__ = "0.1.0"
