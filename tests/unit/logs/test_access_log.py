"""Access log formats (each directive, Apache's escaping) and the AccessLog writer."""

from __future__ import annotations

import calendar
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from mpmd.errors import ConfigError, StartupError
from mpmd.http.events import Request
from mpmd.http.exchange import Transaction
from mpmd.http.socket_exchange import refused_request
from mpmd.logs.access import COMBINED, COMMON, AccessLog, compile_format, escape

# Apache's example request: 10/Oct/2000:13:55:36 -0700
STARTED = calendar.timegm((2000, 10, 10, 20, 55, 36)) + 0.25


@pytest.fixture(autouse=True)
def mountain_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time fixed at UTC-7 without DST, the offset of Apache's example."""
    monkeypatch.setenv("TZ", "MST7")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_txn(
    headers: tuple[tuple[bytes, bytes], ...] = (
        (b"Host", b"www.example.com:8080"),
        (b"Referer", b"http://www.example.com/start.html"),
        (b"User-Agent", b"Mozilla/4.08 [en] (Win98; I ;Nav)"),
    ),
    *,
    target: bytes = b"/apache_pb.gif",
    method: str = "GET",
    status: int = 200,
    body_bytes: int = 2326,
    response_headers: tuple[tuple[str, str], ...] = (
        ("Content-Type", "image/gif; charset=x"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")),
) -> Transaction:
    path, _, query = target.partition(b"?")
    request = Request(method=method, target=target, path=path, query=query, http_version="1.0",
                      headers=headers, keep_alive=False, expect_continue=False,
                      content_length=None, chunked=False)
    return Transaction(
        request=request, client=("127.0.0.1", 51234), server=("192.0.2.10", 8080),
        status=status, response_headers=response_headers, body_bytes=body_bytes,
        bytes_sent=2326 + 200, bytes_received=300, started=STARTED,
        duration_ns=1_234_567_890, keepalive_count=3,
    )


def render(fmt: str, txn: Transaction | None = None, server_name: str = "") -> str:
    return compile_format(fmt, server_name=server_name)(txn or make_txn())


def test_combined_matches_apaches_documented_example() -> None:
    # httpd docs "Log Files", Combined Log Format; %u is "-" (no HTTP auth in mpmd).
    expected = ('127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" '
                '200 2326 "http://www.example.com/start.html" '
                '"Mozilla/4.08 [en] (Win98; I ;Nav)"')
    assert render(COMBINED) == expected
    assert render(COMMON) == expected.split(' "http')[0]


def test_nickname_strings_are_apaches() -> None:
    assert COMMON == '%h %l %u %t "%r" %>s %b'
    assert COMBINED == '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%h", "127.0.0.1"),
        ("%a", "127.0.0.1"),
        ("%{c}a", "127.0.0.1"),
        ("%A", "192.0.2.10"),
        ("%l", "-"),
        ("%u", "-"),
        ("%t", "[10/Oct/2000:13:55:36 -0700]"),
        ("%{%Y-%m-%d %H:%M:%S}t", "2000-10-10 13:55:36"),
        ("%{end:%H:%M:%S}t", "13:55:37"),
        ("%{sec}t", "971211336"),
        ("%{msec}t", "971211336250"),
        ("%{msec_frac}t", "250"),
        ("%{usec_frac}t", "250000"),
        ("%r", "GET /apache_pb.gif HTTP/1.0"),
        ("%>s %<s %s", "200 200 200"),
        ("%b %B", "2326 2326"),
        ("%O %I %S", "2526 300 2826"),
        ("%D", "1234567"),
        ("%T %{s}T %{ms}T %{us}T", "1 1 1234 1234567"),
        ("%{referer}i", "http://www.example.com/start.html"),
        ("%{X-Missing}i", "-"),
        ("%{Content-Type}o", "image/gif"),
        ("%{Set-Cookie}o", "a=1, b=2"),
        ("%{X-Missing}o", "-"),
        ("%U", "/apache_pb.gif"),
        ("%q", ""),
        ("%m %H", "GET HTTP/1.0"),
        ("%p %{local}p %{remote}p", "8080 8080 51234"),
        ("%k", "3"),
        ("%V", "www.example.com"),
        ("%%", "%"),
        ("100%% {literal} \\t tab\\n", "100% {literal} \t tab\n"),
        ("\\q\\\\", "\\q\\"),
        ("%{FOO}e %X %{c}C %f %R", "- - - - -"),
    ],
)
def test_directives(fmt: str, expected: str) -> None:
    assert render(fmt) == expected


def test_process_directives() -> None:
    assert render("%P") == render("%{pid}P") == str(os.getpid())
    assert render("%{tid}P") == str(threading.get_ident())
    assert int(render("%{hextid}P"), 16) == threading.get_ident()


def test_server_name_directives() -> None:
    assert render("%v %p", server_name="www.example.org:81") == "www.example.org 81"
    assert render("%v %p", server_name="www.example.org") == "www.example.org 8080"
    assert render("%v", server_name="[2001:db8::1]:80") == "2001:db8::1"
    no_host = make_txn(headers=())
    assert render("%V", no_host, server_name="www.example.org") == "www.example.org"
    ipv6_host = make_txn(headers=((b"Host", b"[::1]:8080"),))
    assert render("%V", ipv6_host) == "::1"


def test_query_and_decoded_path() -> None:
    txn = make_txn(target=b"/caf%C3%A9/a%20b?x=1&y=%22")
    assert render("%U", txn) == "/caf\\xc3\\xa9/a b"
    assert render("%q", txn) == "?x=1&y=%22"
    assert render("%r", txn) == "GET /caf%C3%A9/a%20b?x=1&y=%22 HTTP/1.0"


def test_zero_body_is_dash_for_b_only() -> None:
    txn = make_txn(status=304, body_bytes=0)
    assert render("%b %B", txn) == "- 0"


def test_escaping_like_ap_escape_logitem() -> None:
    assert escape(b'say "hi"\\') == 'say \\"hi\\"\\\\'
    assert escape(b"\x08\t\n\x0b\r") == "\\b\\t\\n\\v\\r"
    assert escape(b"\x00\x1b\x7f\xff") == "\\x00\\x1b\\x7f\\xff"
    assert escape(b"plain text ~") == "plain text ~"
    txn = make_txn(headers=((b"User-Agent", b'evil"\x1b[31m\xe9'),),
                   target=b'/x"\\', method="GET")
    assert render('"%r" "%{User-Agent}i"', txn) == (
        '"GET /x\\"\\\\ HTTP/1.0" "evil\\"\\x1b[31m\\xe9"')


def test_repeated_request_headers_are_joined() -> None:
    txn = make_txn(headers=((b"Accept", b"a"), (b"accept", b"b")))
    assert render("%{Accept}i", txn) == "a, b"


def test_status_conditions() -> None:
    ok, missing = make_txn(status=200), make_txn(status=404)
    assert render("%400,404{Referer}i", ok) == "-"
    assert render("%400,404{Referer}i", missing) == "http://www.example.com/start.html"
    assert render("%!200{Referer}i", ok) == "-"
    assert render("%!200{Referer}i", missing) == "http://www.example.com/start.html"


def test_clf_time_is_formatted_once_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = time.localtime

    def counting(seconds: float | None = None) -> time.struct_time:
        calls.append(seconds)
        return real(seconds)

    formatter = compile_format("%t")
    monkeypatch.setattr(time, "localtime", counting)
    lines = [formatter(make_txn()) for _ in range(5)]
    assert len(set(lines)) == 1 and len(calls) == 1


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("%Z", "Unrecognized LogFormat directive %Z"),
        ("%{Referer", "missing '}'"),
        ("trailing %", "incomplete directive"),
        ("%{x}T", "unknown time unit"),
        ("%{nope}p", "unknown port type"),
        ("%{nope}P", "unknown"),
        ("%40{Referer}i", "3 digits"),
    ],
)
def test_format_errors(fmt: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compile_format(fmt)


class TestAccessLog:
    def test_lines_are_appended(self, tmp_path: Path) -> None:
        path = tmp_path / "access.log"
        path.write_text("existing\n")
        log = AccessLog.open(str(path), "%>s %U")
        log.log(make_txn())
        log.log(make_txn(status=404))
        log.close()
        assert path.read_text() == "existing\n200 /apache_pb.gif\n404 /apache_pb.gif\n"
        assert path.stat().st_mode & 0o777 == 0o644  # existing file: mode untouched

    def test_new_file_is_0644_before_umask(self, tmp_path: Path) -> None:
        path = tmp_path / "new.log"
        AccessLog.open(str(path), COMMON).close()
        assert path.stat().st_mode & 0o777 == 0o644 & ~_umask()

    def test_concurrent_writers_never_interleave(self, tmp_path: Path) -> None:
        path = tmp_path / "access.log"
        log = AccessLog.open(str(path), "%{X-Writer}i " + "x" * 200)

        def write(name: bytes) -> None:
            txn = make_txn(headers=((b"X-Writer", name),))
            for _ in range(200):
                log.log(txn)

        pid = os.fork()
        if pid == 0:  # a second process writing the same file through the same fd
            try:
                write(b"child")
            finally:
                os._exit(0)
        threads = [threading.Thread(target=write, args=(b"t%d" % i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert os.waitpid(pid, 0)[1] == 0
        log.close()
        lines = path.read_text().splitlines()
        assert len(lines) == 800
        assert all(line.split(" ")[1] == "x" * 200 for line in lines)
        assert sorted({line.split(" ")[0] for line in lines}) == ["child", "t0", "t1", "t2"]

    def test_reopen_follows_logrotate(self, tmp_path: Path) -> None:
        path = tmp_path / "access.log"
        log = AccessLog.open(str(path), "%s")
        log.log(make_txn(status=200))
        os.rename(path, tmp_path / "access.log.1")
        log.log(make_txn(status=201))  # still the old file until reopen
        log.reopen()
        log.log(make_txn(status=202))
        log.close()
        assert (tmp_path / "access.log.1").read_text() == "200\n201\n"
        assert path.read_text() == "202\n"

    def test_close_is_idempotent_and_later_lines_are_dropped(self, tmp_path: Path) -> None:
        path = tmp_path / "access.log"
        log = AccessLog.open(str(path), "%s")
        log.close()
        log.close()
        log.log(make_txn())
        log.reopen()
        assert path.read_text() == ""

    @pytest.mark.parametrize(("target", "fd"), [("stdout", 1), ("stderr", 2)])
    def test_standard_streams(self, capfd: pytest.CaptureFixture[str], target: str,
                              fd: int) -> None:
        log = AccessLog.open(target, "%m %U")
        log.log(make_txn())
        log.reopen()
        log.close()
        out, err = capfd.readouterr()
        assert (out, err)[fd - 1] == "GET /apache_pb.gif\n"
        os.fstat(fd)  # still open

    def test_unopenable_path_is_startup_error(self, tmp_path: Path) -> None:
        with pytest.raises(StartupError, match="could not open transfer log file"):
            (tmp_path / "a-file").write_text("")
            AccessLog.open(str(tmp_path / "a-file" / "access.log"), COMMON)

    def test_piped_logs_are_refused(self) -> None:
        with pytest.raises(ConfigError, match="piped"):
            AccessLog.open("|/usr/bin/rotatelogs", COMMON)

    def test_write_failure_is_an_event_not_an_exception(self, tmp_path: Path) -> None:
        path = tmp_path / "readonly.log"
        path.write_text("")
        fd = os.open(path, os.O_RDONLY)
        log = AccessLog(str(path), compile_format("%s"), fd)
        with capture_logs() as logs:
            log.log(make_txn())
        log.close()
        assert [e["event"] for e in logs] == ["access_log_write_failed"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _with_request(request: Request) -> Transaction:
    txn = make_txn()
    return Transaction(**{**{f: getattr(txn, f) for f in txn.__dataclass_fields__},
                          "request": request})


def test_request_line_of_a_refused_request_is_as_sent() -> None:
    """Apache's %r is the_request, the line as received, also for a 400/501."""
    brew = _with_request(refused_request(b"BREW /pot HTTP/1.1"))
    assert render('"%r" %m %U %H', brew) == '"BREW /pot HTTP/1.1" BREW /pot HTTP/1.1'
    spaced = _with_request(refused_request(b"GET /a b HTTP/1.1"))
    assert render('"%r"', spaced) == '"GET /a b HTTP/1.1"'
    no_version = _with_request(refused_request(b'GET /"q"'))
    assert render('"%r"', no_version) == '"GET /\\"q\\""'


def test_request_line_is_dash_when_none_came() -> None:
    assert render('"%r"', _with_request(refused_request(None))) == '"-"'


def test_request_line_of_http_1_2_served_as_1_1_is_as_sent() -> None:
    request = Request(method="GET", target=b"/", path=b"/", query=b"", http_version="1.1",
                      headers=(), keep_alive=True, expect_continue=False, content_length=None,
                      chunked=False, request_line=b"GET / HTTP/1.2")
    assert render('"%r" %H', _with_request(request)) == '"GET / HTTP/1.2" HTTP/1.1'
