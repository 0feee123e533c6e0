"""Dropping root in a forked child, checked through the ids the child reports."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mpmd.errors import StartupError
from mpmd.mpm.privileges import (
    Identity,
    drop_privileges,
    log_files,
    prepare_child_files,
    resolve,
)

RunInChild = Callable[[list[int], Callable[[], Any]], Any]
NOBODY = pwd.getpwnam("nobody")
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")


def ids() -> dict[str, Any]:
    return {"uid": list(os.getresuid()), "gid": list(os.getresgid()),
            "groups": sorted(os.getgroups())}


def other_group() -> grp.struct_group:
    """A group that is not nobody's primary one."""
    return next(g for g in grp.getgrall() if g.gr_gid not in (NOBODY.pw_gid, 0))


@root_only
def test_drop_to_a_user_and_its_primary_group(in_child: RunInChild) -> None:
    def body() -> Any:
        drop_privileges("nobody", "")
        return ids()

    report = in_child([], body)
    assert report == {"result": {"uid": [NOBODY.pw_uid] * 3, "gid": [NOBODY.pw_gid] * 3,
                                 "groups": [NOBODY.pw_gid]}}  # root's groups are gone


@root_only
def test_drop_to_a_named_group(in_child: RunInChild) -> None:
    group = other_group()

    def body() -> Any:
        drop_privileges("nobody", group.gr_name)
        return ids()

    result = in_child([], body)["result"]
    assert result["uid"] == [NOBODY.pw_uid] * 3
    assert result["gid"] == [group.gr_gid] * 3
    assert 0 not in result["groups"]


@root_only
def test_numeric_ids_without_passwd_entries(in_child: RunInChild) -> None:
    uid = next(n for n in range(54321, 54421) if _no_user(n))

    def body() -> Any:
        drop_privileges(f"#{uid}", f"#{uid + 1}")
        return ids()

    assert in_child([], body) == {"result": {"uid": [uid] * 3, "gid": [uid + 1] * 3,
                                             "groups": [uid + 1]}}


def _no_user(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


@root_only
def test_root_is_out_of_reach_afterwards(in_child: RunInChild) -> None:
    def body() -> Any:
        drop_privileges("nobody")
        try:
            os.setuid(0)
        except PermissionError:
            return "refused"
        return "became root again"

    assert in_child([], body) == {"result": "refused"}


@root_only
def test_already_the_user_is_a_no_op_and_another_user_an_error(in_child: RunInChild) -> None:
    def body() -> Any:
        drop_privileges("nobody")
        drop_privileges("nobody")  # a second time: nothing to do, no error
        drop_privileges("")  # no User at all
        try:
            drop_privileges("root")
        except StartupError as exc:
            return str(exc)
        return "no error"

    message = in_child([], body)["result"]
    assert message == f"cannot switch to User root: not started as root (euid {NOBODY.pw_uid})"


def test_no_user_changes_nothing() -> None:
    before = ids()
    drop_privileges("", "")
    drop_privileges("", "nogroup")
    assert ids() == before


@root_only
def test_root_asking_for_root_is_a_no_op() -> None:
    before = ids()
    drop_privileges("root", "root")
    assert ids() == before


@pytest.mark.parametrize(("user", "group", "message"), [
    ("no-such-user-mpmd", "", "User no-such-user-mpmd: no such user"),
    ("nobody", "no-such-group-mpmd", "Group no-such-group-mpmd: no such group"),
    ("#abc", "", "#abc: not a numeric id"),
    ("nobody", "#-5", "#-5: not a valid id"),
])
def test_unknown_names_fail_before_anything_changes(user: str, group: str, message: str) -> None:
    before = ids()
    with pytest.raises(StartupError, match=message):
        drop_privileges(user, group)
    assert ids() == before


def test_resolve() -> None:
    assert resolve("") is None
    assert resolve("nobody") == Identity("nobody", NOBODY.pw_uid, NOBODY.pw_gid)
    assert resolve(f"#{NOBODY.pw_uid}", "#7") == Identity("nobody", NOBODY.pw_uid, 7)


# -- files the children write -------------------------------------------------


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory nobody can traverse (pytest's own are 0700 under a 0700 parent)."""
    path = Path(tempfile.mkdtemp(prefix="mpmd-priv-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@root_only
def test_log_files_are_created_and_given_to_the_user(open_dir: Path,
                                                     in_child: RunInChild) -> None:
    tmp_path = open_dir
    existing = tmp_path / "logs" / "access.log"
    existing.parent.mkdir()
    existing.write_text("old line\n")
    fresh = tmp_path / "logs" / "new" / "other.log"
    identity = resolve("nobody")
    changed = prepare_child_files([str(existing), str(fresh)], identity)
    assert changed == (str(existing), str(fresh))
    for path in (existing, fresh):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid)
    assert existing.read_text() == "old line\n"  # appended to, never truncated

    def body() -> Any:
        drop_privileges("nobody")
        fd = os.open(existing, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"from the child\n")
        os.close(fd)
        return True

    assert in_child([], body) == {"result": True}
    assert existing.read_text() == "old line\nfrom the child\n"


@root_only
def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("secret\n")
    link = tmp_path / "access.log"
    link.symlink_to(victim)
    dangling = tmp_path / "error.log"
    dangling.symlink_to(tmp_path / "not-yet")
    for path in (link, dangling):
        with pytest.raises(StartupError, match="is a symbolic link"):
            prepare_child_files([str(path)], resolve("nobody"))
    assert (victim.stat().st_uid, victim.stat().st_gid) == (0, 0)
    assert victim.read_text() == "secret\n"
    assert not (tmp_path / "not-yet").exists()


def test_without_identity_nothing_is_touched(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    assert prepare_child_files([str(target)], None) == ()
    assert not target.exists()


def test_log_files_are_the_file_targets() -> None:
    targets = ["/var/log/mpmd/access.log", "stdout", "stderr", "|rotatelogs x", ""]
    assert log_files(targets) == ("/var/log/mpmd/access.log",)
