"""ASGI hello after the same ~50 MB of imports as bigapp (uvicorn has no preload)."""

import bigapp  # noqa: F401  (the import weight is the point)
from asgi_apps import hello

__all__ = ["hello"]
