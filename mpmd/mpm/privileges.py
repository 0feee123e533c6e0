"""``User`` and ``Group``: children serve as an unprivileged user.

The master starts as root so it can bind port 80 and open its logs; every
child gives root up before it imports the application or accepts a
connection, as Apache's ``unixd_setup_child`` does: ``setgid``, then
``initgroups`` (the supplementary groups of the user, replacing root's),
then ``setuid`` — in that order, because after ``setuid`` the process may no
longer change its groups.  ``setuid`` as root sets the real, effective and
saved uid, so there is no way back; :func:`drop_privileges` checks that.

Names resolve through ``pwd``/``grp``; Apache's ``#1000`` form gives a
numeric id.  ``Group`` defaults to the user's primary group.

Guarantees: failures raise :class:`~mpmd.errors.StartupError` naming the user
and the reason; nothing here exits.  Without root there is nothing to drop:
an empty ``User`` or the current user is a no-op, another user an error
(Apache ignores ``User`` when not started as root; mpmd says so instead,
because an operator who wrote ``User`` expects it to hold).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from mpmd.errors import StartupError


@dataclass(frozen=True)
class Identity:
    """Who the children run as."""

    user: str  # the name, or "" for a numeric id with no passwd entry
    uid: int
    gid: int


def resolve(user: str, group: str = "") -> Identity | None:
    """The identity ``User``/``Group`` name; None when ``User`` is empty.

    Call it in the master (at start and on each reload), so an unknown user
    fails there — with the old generation still serving on reload — rather
    than in every child.
    """
    if not user:
        return None
    name, uid, primary = _user(user)
    gid = _group(group) if group else primary
    return Identity(name, uid, gid)


def _user(user: str) -> tuple[str, int, int]:
    try:
        entry = pwd.getpwuid(_number(user)) if user.startswith("#") else pwd.getpwnam(user)
    except KeyError:
        if user.startswith("#"):
            uid = _number(user)
            return "", uid, uid  # Apache allows an id without a passwd entry
        raise StartupError(f"User {user}: no such user") from None
    return entry.pw_name, entry.pw_uid, entry.pw_gid


def _group(group: str) -> int:
    if group.startswith("#"):
        return _number(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise StartupError(f"Group {group}: no such group") from None


def _number(text: str) -> int:
    try:
        value = int(text[1:])
    except ValueError:
        raise StartupError(f"{text}: not a numeric id") from None
    if value < 0:
        raise StartupError(f"{text}: not a valid id")
    return value


def drop_privileges(user: str, group: str = "") -> None:
    """Become ``user``/``group`` for good (see the module docstring)."""
    identity = resolve(user, group)
    if identity is None or _already(identity):
        return
    if os.geteuid() != 0:
        raise StartupError(f"cannot switch to User {user}: "
                           f"not started as root (euid {os.geteuid()})")
    try:
        os.setgid(identity.gid)
        _set_groups(identity)
        os.setuid(identity.uid)
    except OSError as exc:
        raise StartupError(f"cannot switch to User {user} / Group {group or identity.gid}: "
                           f"{exc.strerror}") from exc
    _verify(identity)


def _already(identity: Identity) -> bool:
    return (os.getresuid() == (identity.uid,) * 3
            and os.getresgid() == (identity.gid,) * 3)


def _set_groups(identity: Identity) -> None:
    if identity.user:
        os.initgroups(identity.user, identity.gid)
    else:
        os.setgroups([identity.gid])


def _verify(identity: Identity) -> None:
    """Refuse to go on unless the real, effective and saved ids are all the target."""
    if not _already(identity):
        raise StartupError(
            f"privileges not dropped: uids {os.getresuid()}, gids {os.getresgid()}; "
            f"wanted uid {identity.uid} gid {identity.gid}")


def prepare_child_files(paths: Iterable[str], identity: Identity | None) -> tuple[str, ...]:
    """Create each file children will open for writing and give it to ``identity``.

    The children open their access logs themselves, after the drop; a log
    created by root, or one logrotate just moved away, would then be out of
    their reach.  Call this in the master (as root) before forking each
    generation.  Only the files are handed over, never their directory.

    Safe against a symbolic link planted where a log should be: the file is
    created with ``O_EXCL|O_NOFOLLOW``, a link is refused, and the owner is
    changed with ``lchown``, which never follows one, so root cannot be made
    to give away another file.  Needs ``CAP_CHOWN`` only — not
    ``CAP_DAC_OVERRIDE``, which the shipped unit does not grant: an existing
    log that already belongs to ``User`` is not opened at all.  Returns the
    paths given; a no-op without ``identity`` or without root.
    """
    if identity is None or os.geteuid() != 0:
        return ()
    return tuple(path for path in paths if _give(path, identity))


def _give(path: str, identity: Identity) -> bool:
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        _create(path)
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise StartupError(f"log file {path} is a symbolic link; refusing to "
                               f"give it to uid {identity.uid}")
        os.chown(path, identity.uid, identity.gid, follow_symlinks=False)
    except OSError as exc:
        raise StartupError(f"could not prepare log file {path} for uid {identity.uid}: "
                           f"{exc.strerror}") from exc
    return True


def _create(path: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with contextlib.suppress(FileExistsError):  # an existing log is kept as it is
        os.close(os.open(path, flags, 0o644))


def log_files(custom_log_targets: Iterable[str]) -> tuple[str, ...]:
    """The ``CustomLog`` targets that are files (not stdout, stderr or a pipe)."""
    return tuple(t for t in custom_log_targets
                 if t and t not in ("stdout", "stderr") and not t.startswith("|"))
