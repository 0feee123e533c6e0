"""mpmd.app.beneath: opening beneath a directory fd, following only the links that stay inside."""

from __future__ import annotations

import errno
import gc
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpmd.app.beneath import MAX_SYMLINKS, Opened, OutsideRoot, Root

from .unprivileged import run_unprivileged, shared_tree

SECRET = f"SECRET-{secrets.token_hex(8)}".encode()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/docs (the root) with files, a directory, and links in and out; tmp/secret.txt."""
    docs = tmp_path / "docs"
    (docs / "sub" / "deep").mkdir(parents=True)
    (docs / "page.html").write_bytes(b"page")
    (docs / "sub" / "file.txt").write_bytes(b"sub file")
    (docs / "sub" / "deep" / "leaf.txt").write_bytes(b"leaf")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret.txt").write_bytes(SECRET)
    return docs


@pytest.fixture
def root(tree: Path) -> Iterator[Root]:
    handle = Root(str(tree))
    yield handle
    handle.close()


def read(opened: Opened) -> bytes:
    with opened:
        assert opened.is_file
        return os.pread(opened.fd, 1 << 16, 0)


def errno_of(root: Root, *parts: str) -> int | None:
    with pytest.raises(OSError) as caught:
        root.open(parts).close()
    return caught.value.errno


class TestPlainPaths:
    def test_file_and_nested_file(self, root: Root) -> None:
        assert read(root.open(["page.html"])) == b"page"
        assert read(root.open(["sub", "deep", "leaf.txt"])) == b"leaf"

    def test_empty_path_is_the_root_directory(self, root: Root, tree: Path) -> None:
        with root.open([]) as opened:
            assert opened.is_dir and opened.info.st_ino == tree.stat().st_ino

    def test_directory(self, root: Root, tree: Path) -> None:
        with root.open(["sub"]) as opened:
            assert opened.is_dir and opened.info.st_ino == (tree / "sub").stat().st_ino

    def test_dot_segments_are_lexical_against_the_walk(self, root: Root) -> None:
        assert read(root.open(["sub", ".", "deep", "..", "file.txt"])) == b"sub file"

    def test_dotdot_above_the_root_leaves_it(self, root: Root) -> None:
        assert errno_of(root, "..", "secret.txt") == errno.EXDEV
        assert errno_of(root, "sub", "..", "..", "secret.txt") == errno.EXDEV
        with pytest.raises(OutsideRoot):
            root.open([".."])

    def test_missing_and_not_a_directory(self, root: Root) -> None:
        assert errno_of(root, "nope") == errno.ENOENT
        assert errno_of(root, "nope", "x") == errno.ENOENT
        assert errno_of(root, "page.html", "x") == errno.ENOTDIR
        assert errno_of(root, "page.html", ".") == errno.ENOTDIR

    def test_slashes_inside_a_part_are_walked_one_name_at_a_time(self, root: Root,
                                                                  tree: Path) -> None:
        assert read(root.open(["sub/deep/leaf.txt"])) == b"leaf"
        (tree / "outdir").symlink_to(tree.parent / "private")
        # Were "outdir/secret.txt" handed to openat whole, the kernel would follow outdir.
        assert errno_of(root, "outdir/secret.txt") == errno.EXDEV

    def test_nul_is_no_name(self, root: Root) -> None:
        assert errno_of(root, "page.html\0") == errno.ENOENT

    def test_name_too_long(self, root: Root) -> None:
        assert errno_of(root, "a" * 300) == errno.ENAMETOOLONG

    def test_fifo_opens_without_blocking(self, root: Root, tree: Path) -> None:
        os.mkfifo(tree / "pipe")
        with root.open(["pipe"]) as opened:  # would block forever without O_NONBLOCK
            assert not opened.is_file and not opened.is_dir

    def test_missing_root_then_created(self, tmp_path: Path) -> None:
        later = Root(str(tmp_path / "later"))
        assert errno_of(later, "x") == errno.ENOENT
        (tmp_path / "later").mkdir()
        (tmp_path / "later" / "x").write_bytes(b"now")
        assert read(later.open(["x"])) == b"now"
        later.close()


class TestLinksInside:
    def test_relative_link_to_a_file(self, root: Root, tree: Path) -> None:
        (tree / "alias").symlink_to("sub/file.txt")
        assert read(root.open(["alias"])) == b"sub file"

    def test_relative_link_to_a_directory(self, root: Root, tree: Path) -> None:
        (tree / "dirlink").symlink_to("sub/deep")
        assert read(root.open(["dirlink", "leaf.txt"])) == b"leaf"
        with root.open(["dirlink"]) as opened:
            assert opened.is_dir

    def test_dotdot_in_a_link_goes_to_the_directory_walked(self, root: Root, tree: Path) -> None:
        (tree / "sub" / "deep" / "up").symlink_to("../../page.html")
        assert read(root.open(["sub", "deep", "up"])) == b"page"
        # through a linked directory, '..' is the parent of the link's target
        (tree / "deeplink").symlink_to("sub/deep")
        (tree / "sub" / "deep" / "sibling").symlink_to("../file.txt")
        assert read(root.open(["deeplink", "sibling"])) == b"sub file"

    def test_absolute_link_inside_by_configured_and_real_name(self, tmp_path: Path,
                                                              tree: Path) -> None:
        (tmp_path / "via").symlink_to(tree)  # DocumentRoot configured through a link
        (tree / "by-real").symlink_to(tree / "sub" / "file.txt")
        (tree / "by-configured").symlink_to(tmp_path / "via" / "page.html")
        (tree / "to-root").symlink_to(tmp_path / "via")
        via = Root(str(tmp_path / "via"))
        assert read(via.open(["by-real"])) == b"sub file"
        assert read(via.open(["by-configured"])) == b"page"
        assert read(via.open(["to-root", "page.html"])) == b"page"
        via.close()

    def test_absolute_link_to_a_directory_inside(self, root: Root, tree: Path) -> None:
        (tree / "absdir").symlink_to(tree / "sub")
        assert read(root.open(["absdir", "deep", "leaf.txt"])) == b"leaf"

    def test_chain_of_links(self, root: Root, tree: Path) -> None:
        (tree / "l1").symlink_to("l2")
        (tree / "l2").symlink_to(tree / "sub")
        (tree / "sub" / "l3").symlink_to("deep/leaf.txt")
        assert read(root.open(["l1", "l3"])) == b"leaf"

    def test_name_in_an_opened_directory_resolves_from_it(self, root: Root, tree: Path) -> None:
        (tree / "dirlink").symlink_to("sub")
        (tree / "sub" / "index.html").symlink_to("../page.html")
        with root.open(["dirlink"]) as directory:
            assert read(directory.open("index.html")) == b"page"
            assert read(directory.open("file.txt")) == b"sub file"
            with pytest.raises(FileNotFoundError):
                directory.open("nope")
            assert read(directory.open("file.txt")) == b"sub file"  # still usable

    def test_open_in_a_file_is_not_a_directory(self, root: Root) -> None:
        with root.open(["page.html"]) as opened, pytest.raises(NotADirectoryError):
            opened.open("x")

    def test_max_symlinks_is_the_kernels_limit(self, root: Root, tree: Path) -> None:
        assert MAX_SYMLINKS == 40  # Linux MAXSYMLINKS (include/linux/namei.h)
        for i in range(MAX_SYMLINKS - 1):
            (tree / f"hop{i}").symlink_to(f"hop{i + 1}")
        (tree / f"hop{MAX_SYMLINKS - 1}").symlink_to("page.html")
        assert read(root.open(["hop0"])) == b"page"  # 40 links: the kernel follows them
        (tree / "hop-extra").symlink_to("hop0")  # 41: the kernel's ELOOP
        assert errno_of(root, "hop-extra") == errno.ELOOP

    def test_loop(self, root: Root, tree: Path) -> None:
        (tree / "a").symlink_to("b")
        (tree / "b").symlink_to("a")
        assert errno_of(root, "a") == errno.ELOOP
        assert errno_of(root, "a", "x") == errno.ELOOP


class TestLinksOutside:
    @pytest.mark.parametrize(
        ("name", "target"),
        [
            ("abs-file", "{tmp}/secret.txt"),
            ("abs-dir", "{tmp}/private"),
            ("rel-file", "../secret.txt"),
            ("rel-dir", "../private"),
            ("rel-out-and-back", "../docs/page.html"),  # leaves, even if it comes back
            ("passwd", "/etc/passwd"),
            ("slash", "/"),
            ("prefix-lookalike", "{tmp}/docs-evil/page.html"),
        ],
    )
    def test_refused(self, root: Root, tree: Path, name: str, target: str) -> None:
        tmp = tree.parent
        (tmp / "docs-evil").mkdir()
        (tmp / "docs-evil" / "page.html").write_bytes(SECRET)
        (tree / name).symlink_to(target.format(tmp=tmp))
        assert errno_of(root, name) == errno.EXDEV
        assert errno_of(root, name, "secret.txt") == errno.EXDEV

    def test_link_in_a_subdirectory_climbing_out(self, root: Root, tree: Path) -> None:
        (tree / "sub" / "out").symlink_to("../../secret.txt")
        assert errno_of(root, "sub", "out") == errno.EXDEV

    def test_dangling_link_inside(self, root: Root, tree: Path) -> None:
        (tree / "dangling").symlink_to("nowhere")
        assert errno_of(root, "dangling") == errno.ENOENT



class TestPermissions:
    """Modes are honoured as the kernel does (checked as ``nobody`` when run as root)."""

    @pytest.fixture
    def shared(self) -> Iterator[Path]:
        with shared_tree() as path:
            (path / "sub").mkdir()
            (path / "sub" / "file.txt").write_bytes(b"sub file")
            (path / "locked.txt").write_bytes(b"locked")
            yield path

    def test_search_only_directory_still_works(self, shared: Path) -> None:
        (shared / "sub").chmod(0o111)  # --x: no listing, but names inside open

        def check() -> None:
            with Root(str(shared)).open(["sub"]) as opened:
                assert opened.is_dir
                assert read(opened.open("file.txt")) == b"sub file"

        run_unprivileged(check)

    def test_unreadable_file_and_unsearchable_directory(self, shared: Path) -> None:
        (shared / "locked.txt").chmod(0)
        (shared / "sub").chmod(0o644)  # no x: nothing inside can be reached

        def check() -> None:
            root = Root(str(shared))
            assert errno_of(root, "locked.txt") == errno.EACCES
            assert errno_of(root, "sub", "file.txt") == errno.EACCES

        run_unprivileged(check)


def open_fds() -> int:
    gc.collect()  # other tests' roots close when collected; count only ours
    return len(os.listdir("/proc/self/fd"))


class TestDescriptors:
    def test_no_descriptor_leaks_on_any_outcome(self, root: Root, tree: Path) -> None:
        (tree / "out").symlink_to("../secret.txt")
        (tree / "dirlink").symlink_to("sub")
        root.open(["page.html"]).close()  # the root's own fd, opened once
        before = open_fds()
        for _ in range(50):
            read(root.open(["dirlink", "deep", "leaf.txt"]))
            with root.open(["dirlink"]) as directory:
                read(directory.open("file.txt"))
            for parts in (["out"], ["nope"], ["sub", "deep", "..", "..", ".."], ["page.html", "x"]):
                with pytest.raises(OSError):
                    root.open(parts)
        assert open_fds() == before

    def test_close_waits_for_opens_in_flight(self, root: Root) -> None:
        with root.open(["sub"]) as directory:
            root.close()
            assert read(directory.open("file.txt")) == b"sub file"
        assert read(root.open(["page.html"])) == b"page"  # reopens on demand

    def test_replaced_root_is_picked_up_and_old_walks_finish(self, tmp_path: Path) -> None:
        docs = tmp_path / "site"
        docs.mkdir()
        (docs / "v").write_bytes(b"old")
        root = Root(str(docs))
        with root.open([]) as old_dir:
            docs.rename(tmp_path / "site.old")  # a deploy renames a new tree into place
            docs.mkdir()
            (docs / "v").write_bytes(b"new")
            assert read(root.open(["v"])) == b"new"
            assert read(old_dir.open("v")) == b"old"  # a walk in flight keeps its tree
        root.close()

    def test_root_swapped_by_symlink_is_picked_up(self, tmp_path: Path) -> None:
        for release in ("r1", "r2"):
            (tmp_path / release).mkdir()
            (tmp_path / release / "v").write_text(release)
        (tmp_path / "current").symlink_to("r1")
        root = Root(str(tmp_path / "current"))
        assert read(root.open(["v"])) == b"r1"
        (tmp_path / "next").symlink_to("r2")
        (tmp_path / "next").replace(tmp_path / "current")
        assert read(root.open(["v"])) == b"r2"
        root.close()


class TestSwapRace:
    """An in-process race (threads): the file/link flip never yields the secret."""

    def test_swapping_a_link_never_leaks(self, root: Root, tree: Path) -> None:
        stop = threading.Event()
        swapper = threading.Thread(target=_flip, args=(tree, stop), daemon=True)
        outcomes: dict[str, int] = {"public": 0, "refused": 0}
        swapper.start()
        try:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and min(outcomes.values()) < 50:
                try:
                    body = read(root.open(["race"]))
                except OSError:
                    outcomes["refused"] += 1
                    continue
                assert SECRET not in body
                outcomes["public"] += body == b"public"
        finally:
            stop.set()
            swapper.join(5)
        assert outcomes["public"] and outcomes["refused"], outcomes  # the race happened


def _flip(tree: Path, stop: threading.Event) -> None:
    race, tmp = tree / "race", tree / ".race.tmp"
    while not stop.is_set():
        tmp.write_bytes(b"public")
        tmp.replace(race)
        tmp.symlink_to(tree.parent / "secret.txt")
        tmp.replace(race)
