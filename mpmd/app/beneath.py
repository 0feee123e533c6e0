"""Open a path beneath a directory held open by file descriptor, never leaving it.

Why: checking a path (``realpath``, then "is it under the root?") and opening
it by name afterwards are two operations; whoever can write into the tree can
swap a file for a symlink between them and have a file from outside served.
Here the check *is* the open: every component is opened relative to the
descriptor of the directory walked so far, with ``O_NOFOLLOW``, so the file
that is opened is the file that was checked, and it is served from that
descriptor.

Theory of operation: :class:`Root` holds the root directory open (``O_PATH``).
:meth:`Root.open` walks the components one ``openat`` each: an intermediate
component with ``O_PATH | O_DIRECTORY | O_NOFOLLOW``, the last one with
``O_RDONLY | O_NONBLOCK | O_NOFOLLOW`` (non-blocking, so a FIFO never blocks
the open).  When the kernel refuses a component because it is a symlink
(``ENOTDIR``/``ELOOP`` under ``O_NOFOLLOW``), the walk reads the link
(``readlinkat``) and resolves it itself:

* a relative target is walked from the directory that holds the link;
* an absolute target is accepted only if it names the root (its configured
  or its real path) or something below it, and is walked from the root;
* ``..`` pops the stack of directories walked (so it goes to the directory
  the walk actually came through); popping the root itself is leaving it;
* at most :data:`MAX_SYMLINKS` links per open, the kernel's own limit.

Guarantees: nothing outside the root is ever opened, whatever the tree does
while the walk runs; leaving the root (``..`` above it, an absolute link
elsewhere) raises :class:`OutsideRoot` (``EXDEV``, the errno
``openat2(RESOLVE_BENEATH)`` uses); every other failure is the ``OSError``
the kernel gave (``ENOENT``, ``ENOTDIR``, ``ELOOP``, ``EACCES`` ...).  Symlinks
that stay inside work, relative or absolute, to files or to directories.

Why not ``openat2(RESOLVE_BENEATH)``: it refuses every absolute symlink, even
one that points inside the root (a common deploy shape), Python has no
wrapper for it (a ctypes ``syscall`` would be needed), and container seccomp
profiles still commonly refuse it with ``ENOSYS``/``EPERM``, so the walk
would be needed as the fallback anyway.  One code path, tested everywhere,
costs one ``openat`` per component, which for the usual one to three
components is no more than the ``realpath`` it replaces.

The root is re-checked on every open (one ``stat`` by name): when the path
now names another directory (a deploy renamed a new tree into place, or
swapped the ``current`` symlink), the new one is opened; walks still running
keep the old descriptor, which closes when the last of them ends.
"""

from __future__ import annotations

import errno
import os
import stat
import weakref
from collections.abc import Sequence
from types import TracebackType

#: The kernel's MAXSYMLINKS: links followed in one resolution before ELOOP.
MAX_SYMLINKS = 40

_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)  # Linux; elsewhere a read-only open
_DIR_FLAGS = _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY


class OutsideRoot(OSError):
    """The path (through ``..`` or a symlink) leads outside the root."""

    def __init__(self, detail: str) -> None:
        super().__init__(errno.EXDEV, f"leads outside the root: {detail}")


class _Handle:
    """One open root directory: its descriptor, identity, and absolute names."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        # Closed when the last walk using it ends, never under a running walk.
        weakref.finalize(self, os.close, self.fd)
        info = os.fstat(self.fd)
        self.ident = (info.st_dev, info.st_ino)
        # The names an absolute symlink may use for the root (configured and real).
        self.names = tuple(dict.fromkeys((os.path.normpath(path), os.path.realpath(path))))

    def relative(self, target: str) -> list[str]:
        """``target`` (absolute) as components below the root, or OutsideRoot."""
        normal = os.path.normpath(target)  # lexical; the result is walked beneath anyway
        for name in self.names:
            if normal == name:
                return []
            prefix = name.rstrip("/") + "/"
            if normal.startswith(prefix):
                return normal[len(prefix):].split("/")
        raise OutsideRoot(target)


class Opened:
    """What an open found: ``fd`` (open, owned), its ``info`` (fstat of that fd).

    A directory also keeps the directories walked to reach it, so that
    :meth:`open` can resolve a name in it (and a link in that name) from
    the very descriptors that were checked.  Use as a context manager.
    """

    def __init__(self, handle: _Handle, fd: int, stack: list[tuple[int, bool]]) -> None:
        """Take ``fd`` and the owned descriptors of ``stack`` (closed on failure too)."""
        self._handle = handle  # keeps the root descriptor open while this is
        self.fd = fd
        self._stack = stack  # (fd, owned) of the directories below the root
        try:
            self.info = os.fstat(fd)
        except BaseException:
            self.close()
            raise
        if not self.is_dir:  # only a directory needs its path, for later opens
            _close_owned(self._stack)
            self._stack = []

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.info.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.info.st_mode)

    def open(self, name: str) -> Opened:
        """Open ``name`` in this directory (e.g. its DirectoryIndex), beneath the root."""
        if not self.is_dir:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        stack = [(fd, False) for fd, _ in self._stack] + [(self.fd, False)]
        return _Walk(self._handle, stack).run(_components([name]))

    def close(self) -> None:
        _close_owned(self._stack)
        self._stack = []
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Opened:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Root:
    """A directory to open paths beneath (thread-safe; one per handler)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._handle: _Handle | None = None

    def open(self, parts: Sequence[str]) -> Opened:
        """Open ``parts`` (names; ``.``, ``..`` and ``a/b`` allowed) beneath the root."""
        return _Walk(self._current(), []).run(_components(parts))

    def close(self) -> None:
        """Let go of the root; its descriptor closes once no open still uses it."""
        self._handle = None

    def _current(self) -> _Handle:
        info = os.stat(self.path)  # the root may have been replaced (deploy)
        handle = self._handle
        if handle is None or handle.ident != (info.st_dev, info.st_ino):
            # The old handle closes once no walk uses it (weakref.finalize).
            handle = self._handle = _Handle(self.path)
        return handle


class _Walk:
    """One resolution: the stack of directories walked, and the links followed."""

    def __init__(self, handle: _Handle, stack: list[tuple[int, bool]]) -> None:
        self.handle = handle
        self.stack = stack  # (fd, owned) below the root; empty = at the root
        self.links = 0

    @property
    def here(self) -> int:
        return self.stack[-1][0] if self.stack else self.handle.fd

    def run(self, parts: list[str]) -> Opened:
        try:
            return self._run(parts)
        except BaseException:
            _close_owned(self.stack)
            raise

    def _run(self, parts: list[str]) -> Opened:
        pending = parts[::-1]  # next component last, so links can push theirs
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                self._up()
            elif pending:
                self._enter(name, pending)
            else:
                fd = self._open_last(name, pending)
                if fd is not None:
                    return self._opened(fd)
        return self._opened(self._open_here())

    def _up(self) -> None:
        if not self.stack:
            raise OutsideRoot("..")
        _close_owned([self.stack.pop()])

    def _enter(self, name: str, pending: list[str]) -> None:
        """Step into directory ``name``, or follow it if it is a symlink."""
        try:
            self.stack.append((os.open(name, _DIR_FLAGS, dir_fd=self.here), True))
        except NotADirectoryError:  # a file, or a symlink (O_NOFOLLOW)
            self._follow(self._readlink(name, errno.ENOTDIR), pending)

    def _open_last(self, name: str, pending: list[str]) -> int | None:
        """The last component's fd, or None after pushing a symlink's target."""
        try:
            return os.open(name, _FILE_FLAGS, dir_fd=self.here)
        except PermissionError:
            return self._search_only_directory(name)
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # O_NOFOLLOW's answer for a symlink
                raise
        try:
            target = self._readlink(name, errno.EINVAL)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            pending.append(name)  # swapped back from a link meanwhile: look again
            self._count_link(name)
            return None
        self._follow(target, pending)
        return None

    def _search_only_directory(self, name: str) -> int:
        """A directory we may search but not read (``--x``) is still usable."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=self.here)
        except OSError:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name) from None

    def _open_here(self) -> int:
        """The directory the walk ended in (the root for an empty path)."""
        try:
            return os.open(".", _FILE_FLAGS | os.O_DIRECTORY, dir_fd=self.here)
        except PermissionError:
            return os.open(".", _DIR_FLAGS, dir_fd=self.here)

    def _readlink(self, name: str, not_a_link: int) -> str:
        """The target of link ``name``; ``not_a_link`` is raised if it is none."""
        try:
            return os.readlink(name, dir_fd=self.here)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # not a symlink
                raise OSError(not_a_link, os.strerror(not_a_link), name) from None
            raise

    def _follow(self, target: str, pending: list[str]) -> None:
        self._count_link(target)
        if target.startswith("/"):
            parts = self.handle.relative(target)
            _close_owned(self.stack)
            self.stack = []
        else:
            parts = target.split("/")
        pending.extend(reversed(parts))

    def _count_link(self, name: str) -> None:
        self.links += 1
        if self.links > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name)

    def _opened(self, fd: int) -> Opened:
        stack, self.stack = self.stack, []  # handed over, whatever happens
        return Opened(self.handle, fd, stack)


def _components(parts: Sequence[str]) -> list[str]:
    """One name per component: a ``/`` inside a part would let the kernel follow
    the link before it, which ``O_NOFOLLOW`` only prevents for the last one."""
    names = [name for part in parts for name in part.split("/")]
    if any("\0" in name for name in names):  # no file has one; os.open would ValueError
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
    return names


def _close_owned(stack: list[tuple[int, bool]]) -> None:
    for fd, owned in stack:
        if owned:
            os.close(fd)
