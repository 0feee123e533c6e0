"""The site every server under test serves: apps, static files and generated modules.

Guarantees: one directory (world-readable, for Apache's unprivileged children) holds
the WSGI/ASGI apps copied from bench/apps, ``htdocs/`` with ``hello.txt`` (the same 13
bytes as the hello app), ``10k.bin`` and ``1m.bin``, and ``bigmods/`` whose import costs
about 50 MB; everything is byte-compiled up front so no server pays for compiling.
"""

from __future__ import annotations

import compileall
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

APPS_DIR = Path(__file__).parent / "apps"
HELLO = b"Hello, World!"
STATIC_SIZES = {"10k.bin": 10 * 1024, "1m.bin": 1024 * 1024}
BIG_MODULES = 10
BIG_STRINGS_PER_MODULE = 28_000  # ~180 B each with the tuple slot: ~5 MB a module


@dataclass(frozen=True)
class Site:
    root: Path

    @property
    def htdocs(self) -> Path:
        return self.root / "htdocs"


def build(root: Path, big: bool = True) -> Site:
    """Lay out the site in ``root`` (created) and return it; ``big=False`` skips the
    ~2 s of generating bigmods/ when no scenario imports it."""
    root.mkdir(parents=True, exist_ok=True)
    for src in APPS_DIR.glob("*.py"):
        if src.name != "__init__.py":
            shutil.copy(src, root / src.name)
    _write_htdocs(root / "htdocs")
    if big:
        _write_bigmods(root / "bigmods")
    compileall.compile_dir(str(root), quiet=1)
    _open_up(root)
    return Site(root)


def _write_htdocs(htdocs: Path) -> None:
    htdocs.mkdir(exist_ok=True)
    (htdocs / "hello.txt").write_bytes(HELLO)
    for name, size in STATIC_SIZES.items():
        (htdocs / name).write_bytes(bytes(i % 251 for i in range(size)))


def _write_bigmods(pkg: Path) -> None:
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text(f"COUNT = {BIG_MODULES}\n")
    for i in range(BIG_MODULES):
        (pkg / f"m{i}.py").write_text(_big_module_source(i))


def _big_module_source(index: int) -> str:
    # Distinct strings, so the compiler cannot fold them into one constant.
    pad = "x" * 88
    items = ",\n".join(f'    "{index:02d}-{n:08d}{pad}"' for n in range(BIG_STRINGS_PER_MODULE))
    return f'"""Generated import weight."""\n\nDATA = (\n{items},\n)\n'


def _open_up(root: Path) -> None:
    # Apache's children run as www-data and must read htdocs; mkdtemp made root 0700.
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
