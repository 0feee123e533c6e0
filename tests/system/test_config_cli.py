"""What an operator sees from ``mpmd -t`` (and a start) for configurations that cannot run.

Issue 12 items 9, 10, 13 and 14, end to end: the real ``mpmd`` command in a
subprocess, its exit status and its stderr.  Only ``-t`` runs, except for the
one start that must fail because a test socket holds the port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness import REPO, Server

LOAD = "LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n"


def configtest(conf: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "mpmd", "-t", "-f", str(conf)],
                          capture_output=True, text=True, env=env, timeout=30)


def syntax_error(conf: Path, line: int) -> str:
    return f"AH00526: Syntax error on line {line} of {conf}:\n"


def test_unresolvable_listen_and_unknown_user_fail_the_syntax_check(tmp_path: Path) -> None:
    conf = tmp_path / "mpmd.conf"
    conf.write_text(LOAD + "Listen 127.0.0.1:8080\nListen foo.invalid:80\n")
    done = configtest(conf)
    assert done.returncode == 1
    assert done.stderr.startswith(syntax_error(conf, 3) + "Listen setup failed: AH00077: "
                                  "alloc_listener: failed to set up sockaddr for foo.invalid")
    assert "Syntax OK" not in done.stderr
    conf.write_text(LOAD + "Listen 127.0.0.1:8080\nUser no_such_user_mpmd\n")
    done = configtest(conf)
    assert (done.returncode, done.stderr) == (
        1, syntax_error(conf, 3) + "AH00543: mpmd: bad user name no_such_user_mpmd\n")


def test_listen_port_zero_fails_the_syntax_check(tmp_path: Path) -> None:
    conf = tmp_path / "mpmd.conf"
    conf.write_text(LOAD + "Listen 127.0.0.1:0\n")
    done = configtest(conf)
    assert (done.returncode, done.stderr) == (1, syntax_error(conf, 2) + "Port must be specified\n")


def test_document_root_warning_only_where_static_files_are_served(tmp_path: Path) -> None:
    conf = tmp_path / "mpmd.conf"
    conf.write_text(LOAD + "Listen 127.0.0.1:8080\nWSGIApp hello:app\n")
    done = configtest(conf)
    assert (done.returncode, done.stderr) == (0, "Syntax OK\n")
    conf.write_text(LOAD + "Listen 127.0.0.1:8080\nDocumentRoot www\n")
    done = configtest(conf)
    assert (done.returncode, done.stderr) == (
        0, f"{conf}:3: Warning: DocumentRoot [{tmp_path / 'www'}] does not exist\nSyntax OK\n")


def test_unreadable_configuration_files_name_the_file_not_line_0(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    done = configtest(missing)
    assert (done.returncode, done.stderr) == (
        1, f"mpmd: Could not open configuration file {missing}: No such file or directory\n")
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    done = configtest(empty)
    assert done.returncode == 1
    assert done.stderr.startswith(f"mpmd: no listening sockets available, shutting down: "
                                  f"no Listen directive in {empty}")
    latin1 = tmp_path / "latin1.conf"
    latin1.write_bytes(LOAD.encode() + b"Listen 127.0.0.1:8080\nServerAdmin r\xe9mi@example.com\n")
    done = configtest(latin1)
    assert done.returncode == 1
    assert done.stderr.startswith(syntax_error(latin1, 3) + "Could not read configuration file "
                                  f"{latin1}: not UTF-8 (byte 0xe9")
    assert "line 0" not in done.stderr


def test_port_in_use_at_start_names_the_listen_line(
    make_server: Callable[..., Server], mpm: str
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        busy = blocker.getsockname()[1]
        server = make_server(start=False, mpm=mpm, listen=[f"127.0.0.1:{busy}"])
        line = server.conf.read_text().splitlines().index(f"Listen 127.0.0.1:{busy}") + 1
        server.start(wait=False)
        assert server.wait_exit(20) != 0
    stderr = server.stderr_text()
    assert f"could not bind to address 127.0.0.1:{busy}: Address already in use" in stderr
    assert f"(Listen on line {line} of {server.conf})" in stderr
