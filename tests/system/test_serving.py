"""The real server serves: default site, WSGI app, keep-alive, logs — under every MPM."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable

import pytest
from harness import Server, free_port, wait_for

pytestmark = pytest.mark.slow


def get(server: Server, path: str, method: str = "GET", body: object = None,
        headers: dict[str, str] | None = None,
        chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {},  # type: ignore[arg-type]
                     encode_chunked=chunked)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_default_site_says_it_works(make_server: Callable[..., Server], mpm: str) -> None:
    server = make_server(mpm=mpm, wsgi=False)
    status, headers, body = get(server, "/")
    assert status == 200
    assert b"It works!" in body
    assert headers["Content-Type"].startswith("text/html")
    assert "mpmd" in headers["Server"]


def test_wsgi_app_get_post_chunked_stream_and_error(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    assert get(server, "/")[2] == b"Hello, World!"
    assert get(server, "/echo", "POST", b"x" * 5000)[2] == b"x" * 5000
    chunks = (c for c in [b"abc", b"defg", b"h" * 3000])
    status, _, body = get(server, "/echo", "POST", chunks,
                          {"Transfer-Encoding": "chunked"}, chunked=True)
    assert (status, body) == (200, b"abcdefg" + b"h" * 3000)
    status, headers, body = get(server, "/stream")
    assert status == 200 and headers.get("Transfer-Encoding") == "chunked"
    assert body == b"".join(b"part%d\n" % i for i in range(5))
    assert get(server, "/boom")[0] == 500
    failures = server.wait_event("wsgi_app_failed")
    assert "boom" in json.dumps(failures[0])
    assert get(server, "/")[0] == 200  # the child survived


def test_keep_alive_serves_many_requests_on_one_connection(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    pids = set()
    for _ in range(20):
        conn.request("GET", "/pid")
        resp = conn.getresponse()
        assert resp.status == 200
        pids.add(resp.read())
    conn.close()
    assert len(pids) == 1  # one connection, one child


def test_malformed_request_gets_400_and_child_survives(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 400")
    assert get(server, "/")[0] == 200


def test_access_log_gets_combined_lines(make_server: Callable[..., Server], mpm: str) -> None:
    server = make_server(mpm=mpm)
    get(server, "/?q=1", headers={"User-Agent": "probe/1.0", "Referer": "http://r/"})
    line = wait_for(lambda: server.access_log.exists() and server.access_log.read_text(),
                    5, "an access log line")
    assert '"GET /?q=1 HTTP/1.1" 200 13 "http://r/" "probe/1.0"' in line
    assert line.startswith("127.0.0.1 - - [")


def test_unix_and_ipv6_listeners(make_server: Callable[..., Server], tmp_path) -> None:  # type: ignore[no-untyped-def]
    sock_path = tmp_path / "mpmd.sock"
    v6_port = free_port("::1")
    server = make_server(start=False, mpm="prefork")
    server.spec.listen = [f"127.0.0.1:{server.port}", f"[::1]:{v6_port}", f"unix:{sock_path}"]
    server.conf.write_text(server.config_text())
    server.start()
    conn6 = http.client.HTTPConnection("::1", v6_port, timeout=5)
    conn6.request("GET", "/")
    assert conn6.getresponse().read() == b"Hello, World!"
    conn6.close()
    wait_for(sock_path.exists, 5, "the unix socket")
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(sock_path))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"Hello, World!")
    server.signal(15)
    assert server.wait_exit() == 0
    assert not sock_path.exists()


def test_single_process_debug_mode(make_server: Callable[..., Server]) -> None:
    server = make_server(mpm="prefork", args=("-X",))
    pid = int(get(server, "/pid")[2])
    assert pid == server.pid
    assert server.children() == []
