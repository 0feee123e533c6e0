"""The hello app after importing ~50 MB of generated modules (bench.site writes bigmods/).

Stands for a real application's import weight, to measure what preloading and
copy-on-write save.
"""

import importlib

from bigmods import COUNT  # type: ignore[import-not-found,unused-ignore]
from hello import app

MODULES = tuple(importlib.import_module(f"bigmods.m{i}") for i in range(COUNT))

__all__ = ["MODULES", "app"]
