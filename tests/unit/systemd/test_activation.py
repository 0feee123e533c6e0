"""Socket activation: real listening sockets moved to descriptors 3.. in a
forked child, with LISTEN_* set the way systemd sets them."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mpmd.config.model import ListenAddress
from mpmd.errors import StartupError
from mpmd.systemd.activation import InheritedSocket, inherited_sockets, match, serves

RunInChild = Callable[[list[int], Callable[[], Any]], Any]


def listener(family: socket.AddressFamily, address: Any) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind(address)
    sock.listen(8)
    return sock


@pytest.fixture
def short_dir() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="sda", dir="/tmp")  # sun_path is 108 bytes
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def env_for_me(count: int, names: str | None = None) -> dict[str, str]:
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": str(count)}
    if names is not None:
        env["LISTEN_FDNAMES"] = names
    return env


def describe(item: InheritedSocket) -> dict[str, Any]:
    return {
        "fd": item.fd, "name": item.name, "address": str(item.address),
        "family": item.sock.family.name, "listening": item.listening,
        "blocking": item.sock.getblocking(),
        "cloexec": bool(fcntl.fcntl(item.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC),
    }


def test_passed_sockets_are_taken_over(in_child: RunInChild, short_dir: str) -> None:
    v4 = listener(socket.AF_INET, ("127.0.0.1", 0))
    v6 = listener(socket.AF_INET6, ("::1", 0))
    path = os.path.join(short_dir, "web.sock")
    unix = listener(socket.AF_UNIX, path)

    def body() -> Any:
        env = env_for_me(3, "http:https:local")
        found = inherited_sockets(env)
        return {"env": env, "sockets": [describe(i) for i in found]}

    report = in_child([v4.fileno(), v6.fileno(), unix.fileno()], body)
    assert report["result"]["env"] == {}  # every LISTEN_* variable removed
    common = {"listening": True, "blocking": False, "cloexec": True}
    assert report["result"]["sockets"] == [
        {"fd": 3, "name": "http", "address": f"127.0.0.1:{v4.getsockname()[1]}",
         "family": "AF_INET", **common},
        {"fd": 4, "name": "https", "address": f"[::1]:{v6.getsockname()[1]}",
         "family": "AF_INET6", **common},
        {"fd": 5, "name": "local", "address": f"unix:{path}", "family": "AF_UNIX", **common},
    ]
    for sock in (v4, v6, unix):
        sock.close()


def test_the_adopted_socket_is_the_passed_one(in_child: RunInChild) -> None:
    """A connection queued on the original is accepted through descriptor 3."""
    original = listener(socket.AF_INET, ("127.0.0.1", 0))
    client = socket.create_connection(original.getsockname(), timeout=5)

    def body() -> Any:
        (item,) = inherited_sockets(env_for_me(1))
        item.sock.settimeout(5)
        conn, peer = item.sock.accept()
        conn.close()
        return list(peer)

    report = in_child([original.fileno()], body)
    assert tuple(report["result"]) == client.getsockname()
    client.close()
    original.close()


def test_names_default_to_unknown(in_child: RunInChild) -> None:
    sock = listener(socket.AF_INET, ("127.0.0.1", 0))
    report = in_child([sock.fileno()],
                      lambda: [i.name for i in inherited_sockets(env_for_me(1))])
    assert report == {"result": ["unknown"]}
    sock.close()


def test_os_environ_is_cleaned_for_programs_started_later(in_child: RunInChild) -> None:
    sock = listener(socket.AF_INET, ("127.0.0.1", 0))

    def body() -> Any:
        os.environ.update(env_for_me(1, "http"))
        count = len(inherited_sockets())
        shell = subprocess.run(
            ["sh", "-c", 'echo "${LISTEN_PID-unset} ${LISTEN_FDS-unset} ${LISTEN_FDNAMES-unset}"'],
            capture_output=True, text=True, check=True, timeout=10)
        return [count, shell.stdout.strip()]

    report = in_child([sock.fileno()], body)
    assert report == {"result": [1, "unset unset unset"]}
    sock.close()


def test_a_descriptor_that_is_not_a_socket_is_refused(in_child: RunInChild) -> None:
    read_end, write_end = os.pipe()
    report = in_child([read_end], lambda: inherited_sockets(env_for_me(1)))
    assert report["error"].startswith("StartupError: LISTEN_FDS: descriptor 3")
    assert "not a socket" in report["error"]
    os.close(read_end)
    os.close(write_end)


def test_sockets_for_another_pid_are_ignored_and_the_variables_removed() -> None:
    env = {"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}
    assert inherited_sockets(env) == []
    assert env == {}


def test_nothing_passed() -> None:
    assert inherited_sockets({}) == []
    assert inherited_sockets({"LISTEN_FDS": "1"}) == []  # no LISTEN_PID: not for us


@pytest.mark.parametrize(("env", "message"), [
    ({"LISTEN_FDS": "two"}, "LISTEN_FDS='two' is not a number"),
    ({"LISTEN_FDS": "-1"}, "is negative"),
    ({"LISTEN_FDS": "2", "LISTEN_FDNAMES": "http"}, "LISTEN_FDNAMES names 1 descriptors"),
])
def test_malformed_variables(env: dict[str, str], message: str) -> None:
    with pytest.raises(StartupError, match=message):
        inherited_sockets({"LISTEN_PID": str(os.getpid()), **env})


# -- matching inherited sockets with Listen addresses --------------------------


def inherited(sock: socket.socket, name: str = "unknown") -> InheritedSocket:
    return InheritedSocket(sock.fileno(), name, sock)


def tcp(host: str, port: int) -> ListenAddress:
    return ListenAddress("tcp", host=host, port=port)


def test_match_pairs_by_bound_address(short_dir: str) -> None:
    v4 = listener(socket.AF_INET, ("127.0.0.1", 0))
    v6 = listener(socket.AF_INET6, ("::1", 0))
    path = os.path.join(short_dir, "s")
    unix = listener(socket.AF_UNIX, path)
    p4, p6 = v4.getsockname()[1], v6.getsockname()[1]
    wanted = (ListenAddress("unix", path=path), tcp("::1", p6), tcp("127.0.0.1", p4),
              tcp("127.0.0.1", p4 + 1 if p4 < 65535 else p4 - 1))
    matched, extras = match([inherited(s) for s in (v4, v6, unix)], wanted)
    assert matched == {wanted[0]: unix, wanted[1]: v6, wanted[2]: v4}
    assert extras == []
    for sock in (v4, v6, unix):
        sock.close()


def test_unmatched_and_non_listening_sockets_are_extras() -> None:
    v4 = listener(socket.AF_INET, ("127.0.0.1", 0))
    bound_only = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    bound_only.bind(("127.0.0.1", 0))
    datagram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    datagram.bind(("127.0.0.1", 0))
    items = [inherited(s) for s in (v4, bound_only, datagram)]
    wanted = (tcp("127.0.0.1", bound_only.getsockname()[1]),
              tcp("127.0.0.1", datagram.getsockname()[1]))
    matched, extras = match(items, wanted)
    assert matched == {}
    assert extras == [v4, bound_only, datagram]
    for sock in (v4, bound_only, datagram):
        sock.close()


@pytest.mark.parametrize(("family", "host"), [
    (socket.AF_INET, "0.0.0.0"),
    (socket.AF_INET6, "::"),
])
def test_a_wildcard_listen_accepts_an_unspecified_address(
    family: socket.AddressFamily, host: str
) -> None:
    # Bound but never listening: nothing outside loopback can connect.
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    assert serves(inherited(sock), tcp("", port))
    assert not serves(inherited(sock), tcp("", port), exact=True)
    assert not serves(inherited(sock), tcp("127.0.0.1", port))
    assert not serves(inherited(sock), tcp("", port + 1 if port < 65535 else port - 1))
    sock.close()


def test_a_wildcard_listen_does_not_take_a_loopback_socket() -> None:
    sock = listener(socket.AF_INET, ("127.0.0.1", 0))
    assert not serves(inherited(sock), tcp("", sock.getsockname()[1]))
    sock.close()


class PretendListening(InheritedSocket):
    """A bound socket that match() treats as listening: a wildcard socket that
    really listened would be reachable from outside loopback."""

    @property
    def listening(self) -> bool:
        return True


def test_exact_addresses_are_paired_before_wildcards() -> None:
    # One socket on [::]:P serves both "Listen P" and "Listen [::]:P"; the
    # exact line gets it even though the wildcard one comes first.
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.bind(("::", 0))
    port = sock.getsockname()[1]
    wanted = (tcp("", port), tcp("::", port))
    matched, extras = match([PretendListening(sock.fileno(), "http", sock)], wanted)
    assert matched == {tcp("::", port): sock}
    assert extras == []
    sock.close()


def test_match_prefers_exact_over_wildcard_with_listening_sockets() -> None:
    loopback = listener(socket.AF_INET, ("127.0.0.1", 0))
    port = loopback.getsockname()[1]
    wanted = (tcp("", port), tcp("127.0.0.1", port))
    matched, extras = match([inherited(loopback)], wanted)
    assert matched == {tcp("127.0.0.1", port): loopback}
    assert extras == []
    loopback.close()


def test_a_host_name_matches_what_it_resolves_to() -> None:
    sock = listener(socket.AF_INET, ("127.0.0.1", 0))
    port = sock.getsockname()[1]
    assert serves(inherited(sock), tcp("localhost", port))
    assert not serves(inherited(sock), tcp("no-such-host.invalid", port))
    sock.close()
