"""The renderers: ?auto (Apache's exact text), HTML, JSON, Prometheus, the terminal."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import termios
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mpmd.errors import ControlError
from mpmd.status import apachefmt, auto, html, jsonview, prometheus, terminal
from mpmd.status.collect import collect
from mpmd.status.model import StatusReport

from .apache_auto import ASYNC, AutoFormatError, parse_auto
from .boards import FACTS, FakeProbe, board, child, served

# ANSI control sequences (ECMA-48 CSI; ?25 is DEC's cursor-visibility mode)
HOME, CLEAR_SCREEN, CLEAR_LINE = "\x1b[H", "\x1b[2J", "\x1b[K"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"

# Real httpd 2.4.62 output (event MPM), as monitoring tools see it.
APACHE_2_4_62 = """localhost
ServerVersion: Apache/2.4.62 (Raspbian)
ServerMPM: event
Server Built: 2024-10-04T15:21:08
CurrentTime: Tuesday, 26-Nov-2024 18:29:51 CST
RestartTime: Saturday, 23-Nov-2024 19:22:42 CST
ParentServerConfigGeneration: 4
ParentServerMPMGeneration: 3
ServerUptimeSeconds: 256028
ServerUptime: 2 days 23 hours 7 minutes 8 seconds
Load1: 0.39
Load5: 0.48
Load15: 0.50
Total Accesses: 664
Total kBytes: 3973
Total Duration: 1372
CPUUser: 10.35
CPUSystem: 16.46
CPUChildrenUser: .82
CPUChildrenSystem: .67
CPULoad: .0110535
Uptime: 256028
ReqPerSec: .00259347
BytesPerSec: 15.8903
BytesPerReq: 6127.04
DurationPerReq: 2.06627
BusyWorkers: 1
GracefulWorkers: 0
IdleWorkers: 49
Processes: 2
Stopping: 0
ConnsTotal: 1
ConnsAsyncWriting: 0
ConnsAsyncKeepAlive: 1
ConnsAsyncClosing: 0
Scoreboard: _W________________________________________________
"""


def report(extended: bool = True, asynchronous: bool = True, served_any: bool = True,
           age: float = 100.0) -> StatusReport:
    b = board(server_limit=4, threads=3)
    b.header.restart_time = b.header.start_time = time.time() - age
    child(b, 0, 101, b"_WK")
    child(b, 1, 102, b"G__", quiescing=True)
    if served_any:
        served(b, 0, 1, count=13, sent=91_136, micros=11_786_000,
               request=b"GET /<script> HTTP/1.1", client=b"127.0.0.1")
    facts = dataclasses.replace(FACTS, extended=extended, asynchronous=asynchronous)
    return collect((b,), facts, servers=3, probe=FakeProbe(), detail=True)


def test_the_strict_parser_accepts_real_apache_output() -> None:
    name, values = parse_auto(APACHE_2_4_62)
    assert name == "localhost" and values["Scoreboard"].startswith("_W")


@pytest.mark.parametrize("extended", [True, False])
@pytest.mark.parametrize("asynchronous", [True, False])
def test_auto_is_apaches_format(extended: bool, asynchronous: bool) -> None:
    r = report(extended=extended, asynchronous=asynchronous)
    name, values = parse_auto(auto.render_auto(r, "localhost"))
    assert name == "localhost"
    assert values["ServerMPM"] == "event"
    assert values["Scoreboard"] == "_WKG__..."
    assert (values["BusyWorkers"], values["GracefulWorkers"], values["IdleWorkers"]) == (
        "2", "0", "1")  # the quiescing child counts for nothing
    assert ("Total Accesses" in values) is extended
    assert all((key in values) is asynchronous for key in ASYNC)
    if extended:
        assert (values["Total Accesses"], values["Total kBytes"]) == ("13", "89")
        assert values["Total Duration"] == "11786"
        assert values["DurationPerReq"] == apachefmt.apr_g(11786 / 13)
        assert values["CPUUser"] == "3"  # master + 2 children, 1 s each


def test_auto_conditional_lines() -> None:
    fresh = report(served_any=False, age=0.2)
    _, values = parse_auto(auto.render_auto(fresh, "h"))
    assert values["Uptime"] == "0" and values["ServerUptime"] == ""
    for key in ("ReqPerSec", "BytesPerSec", "BytesPerReq", "DurationPerReq", "CPULoad"):
        assert key not in values


def test_uptime_counts_from_the_first_start_across_reloads() -> None:
    b = board(server_limit=4, threads=3)
    now = time.time()
    b.header.start_time, b.header.restart_time = now - 100, now - 1  # reloaded 1 s ago
    r = collect((b,), FACTS, servers=3, probe=FakeProbe(), now=now)
    _, values = parse_auto(auto.render_auto(r, "h"))
    assert values["ServerUptimeSeconds"] == "100" and values["Uptime"] == "100"
    assert values["RestartTime"] == apachefmt.ht_time(now - 1)


def test_the_parser_rejects_what_apache_never_prints() -> None:
    good = auto.render_auto(report(), "h")
    broken = [
        good.replace("GracefulWorkers", "Graceful"),  # unknown key
        good.replace("Load1: ", "Load1: +", 1),  # value shape
        good.replace("IdleWorkers", "XX").replace("BusyWorkers", "IdleWorkers").replace(
            "XX", "BusyWorkers"),  # order
        good.replace("ConnsTotal: 0\n", ""),  # half an async block
        good + "\n",
        "Scoreboard: ...\n",
    ]
    for text in broken:
        with pytest.raises(AutoFormatError):
            parse_auto(text)


def test_apr_number_formats() -> None:
    assert [apachefmt.apr_g(x) for x in (0.49, 0.0, 12.0, 1234.5, -0.5, 1e6)] == [
        ".49", "0", "12", "1234.5", "-.5", "1e+06"]
    assert apachefmt.show_time(0) == ""
    assert apachefmt.show_time(86400 + 3600 + 61) == " 1 day 1 hour 1 minute 1 second"
    assert apachefmt.show_time(2 * 86400 + 7 * 60 + 8) == " 2 days 7 minutes 8 seconds"
    assert [apachefmt.format_byte_out(n) for n in (100, 6000, 700_000, 600_000_000)] == [
        "100 B", "5.9 kB", "0.7 MB", "0.6 GB"]
    assert [apachefmt.format_kbyte_out(n) for n in (89, 2048, 3 << 20)] == [
        "89 kB", "2.0 MB", "3.0 GB"]


def test_html_page() -> None:
    page = html.render_html(report(), "example.test", "127.0.0.1")
    assert page.startswith("<!DOCTYPE HTML PUBLIC")
    assert "<h1>mpmd Server Status for example.test (via 127.0.0.1)</h1>" in page
    assert "<dt>Server MPM: event</dt>" in page
    assert "<dt>Total accesses: 13 - Total Traffic: 89 kB - Total Duration: 11786</dt>" in page
    assert "2 requests currently being processed, 0 workers gracefully restarting, " \
           "1 idle workers" in page
    assert "<pre>_WKG__...</pre>" in page
    assert '"<b><code>K</code></b>" Keepalive (read),' in page
    assert "<td>101</td><td>1</td><td>no</td>" in page  # pid, generation, stopping
    assert "GET /&lt;script&gt; HTTP/1.1" in page and "<script>" not in page


def test_html_without_extended_status_lists_pids_instead() -> None:
    page = html.render_html(report(extended=False), "h", "127.0.0.1")
    assert "Total accesses" not in page and "<th>Srv</th>" not in page
    assert "PID Key:" in page and "101: 2 busy" in page


def test_html_scoreboard_lines_hold_64_letters() -> None:
    b = board(server_limit=100, threads=1)
    r = collect((b,), FACTS, servers=100, probe=FakeProbe())
    assert "<pre>" + "." * 64 + "\n" + "." * 36 + "</pre>" in html.render_html(r, "h", "ip")


def test_json() -> None:
    data = json.loads(jsonview.render_json(report(), "h"))
    assert data["server"]["mpm"] == "event" and data["scoreboard"] == "_WKG__..."
    assert data["workers"] == {"busy": 2, "graceful": 0, "idle": 1}
    assert data["totals"]["accesses"] == 13 and data["totals"]["bytes"] == 91_136
    assert [p["pid"] for p in data["processes"]] == [101, 102]
    assert data["processes"][0]["resources"]["rss"] == 10 << 20
    slot = next(s for s in data["slots"] if s["state"] == "W")
    assert slot["request"] == "GET /<script> HTTP/1.1"
    assert "slots" not in json.loads(jsonview.render_json(report(extended=False), "h"))


def test_prometheus_parses_with_the_reference_parser() -> None:
    text = prometheus.render_prometheus(report())
    families = {f.name: f for f in text_string_to_metric_families(text)}
    value = {(f.name, s.name, tuple(sorted(s.labels.items()))): s.value
             for f in families.values() for s in f.samples}
    assert value[("mpmd_requests", "mpmd_requests_total", ())] == 13
    assert families["mpmd_requests"].type == "counter"
    assert value[("mpmd_workers", "mpmd_workers", (("state", "busy"),))] == 2
    scoreboard = {s.labels["state"]: s.value for s in families["mpmd_scoreboard"].samples}
    assert sum(scoreboard.values()) == len("_WKG__...")
    assert (scoreboard["reply"], scoreboard["keepalive"], scoreboard["open_slot"]) == (1, 1, 3)
    rss = families["mpmd_process_resident_memory_bytes"].samples
    assert {s.labels["pid"] for s in rss} == {"101", "102"}
    cpu = families["mpmd_process_cpu_seconds"].samples
    assert {(s.labels["pid"], s.labels["mode"]) for s in cpu} >= {("101", "user")}


def test_prometheus_escapes_label_values() -> None:
    r = dataclasses.replace(report(), facts=dataclasses.replace(FACTS, version='a"b\\c\nd'))
    text = prometheus.render_prometheus(r)
    info = next(f for f in text_string_to_metric_families(text) if f.name == "mpmd_info")
    assert info.samples[0].labels["version"] == 'a"b\\c\nd'


def test_terminal_text() -> None:
    lines = terminal.render_text(report())
    text = "\n".join(lines)
    assert "event MPM - generation 1" in text
    assert "Workers: 2 busy, 0 graceful, 1 idle; 2 processes, 1 stopping" in text
    assert lines[lines.index("Scoreboard (9 slots):") + 1] == "_WKG__..."
    assert "GET /<script> HTTP/1.1" in text  # in progress (ExtendedStatus)
    wide = collect((board(server_limit=50, threads=1),), FACTS, servers=50, probe=FakeProbe())
    rows = terminal.render_text(wide, width=30)
    assert rows[rows.index("Scoreboard (50 slots):") + 1:][:2] == ["." * 30, "." * 20]
    assert all(len(row) <= 30 for row in rows)


class ScriptedKeys:
    """A keyboard that types ``typed[i]`` during the i-th wait; records the waits."""

    def __init__(self, *typed: str) -> None:
        self.typed = list(typed)
        self.waits: list[float] = []

    def wait(self, timeout: float) -> str:
        self.waits.append(timeout)
        return self.typed.pop(0) if self.typed else ""


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_watch_redraws_in_place_and_restores_the_cursor() -> None:
    out = io.StringIO()
    frames = iter([["one"], ["two"]])
    keys = ScriptedKeys()
    code = terminal.watch(lambda: next(frames), out, interval=0.5, count=2, terminal=True,
                          keys=keys)
    text = out.getvalue()
    assert code == 0 and keys.waits == [0.5]
    # ECMA-48 / DEC private sequences, pinned: hide cursor, clear screen, home, erase line
    assert text.startswith(HIDE_CURSOR + CLEAR_SCREEN)
    assert text.count(HOME) == 2 and "two" + CLEAR_LINE in text
    assert text.endswith(SHOW_CURSOR + "\n")


def test_watch_ends_on_ctrl_c_and_plain_output_off_a_terminal() -> None:
    out = io.StringIO()

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    code = terminal.watch(lambda: ["frame"], out, interval=1, count=None, terminal=False,
                          keys=terminal.Sleeper(interrupted))
    assert code == 0 and out.getvalue() == "frame\n\n"


@pytest.mark.parametrize("key", ["q", "Q", "xq"])
def test_watch_quits_on_q(key: str) -> None:
    out = io.StringIO()
    keys = ScriptedKeys("", "j", key, "")  # two frames redrawn, then q: no fourth frame
    drawn: list[int] = []

    def frame() -> list[str]:
        drawn.append(1)
        return [f"frame {len(drawn)}"]

    code = terminal.watch(frame, out, interval=1, count=None, terminal=True, keys=keys)
    assert code == 0 and len(drawn) == 3 and keys.waits == [1, 1, 1]
    assert out.getvalue().endswith(SHOW_CURSOR + "\n")


def test_watch_ends_with_one_error_when_the_server_stays_gone() -> None:
    out = io.StringIO()
    clock = FakeClock()
    calls: list[int] = []

    def frame() -> list[str]:
        calls.append(1)
        if len(calls) == 1:
            return ["serving"]
        clock.now += 0.25  # each look takes the retry period
        raise ControlError("no scoreboard at /run/mpmd.scoreboard")

    with pytest.raises(terminal.ServerGone, match="went away: no scoreboard at"):
        terminal.watch(frame, out, interval=1, count=None, terminal=True,
                       keys=ScriptedKeys(), grace=2.0, clock=clock)
    text = out.getvalue()
    assert text.count(HOME) == 1 and "no scoreboard" not in text  # said once, by the CLI
    assert text.endswith(SHOW_CURSOR + "\n")
    assert 8 <= len(calls) - 1 <= 10  # looked again every 0.25 s for the 2 s grace


def test_watch_survives_a_server_that_comes_back_within_the_grace() -> None:
    out = io.StringIO()
    results: list[list[str] | None] = [["one"], None, None, ["two"]]

    def frame() -> list[str]:
        lines = results.pop(0)
        if lines is None:
            raise ControlError("no scoreboard")
        return lines

    keys = ScriptedKeys()
    code = terminal.watch(frame, out, interval=1, count=2, terminal=False, keys=keys,
                          clock=FakeClock())
    assert code == 0 and out.getvalue() == "one\n\ntwo\n\n"
    assert keys.waits == [1, terminal.GONE_RETRY, terminal.GONE_RETRY]


def test_watch_with_no_server_at_all_fails_at_once() -> None:
    out = io.StringIO()

    def gone() -> list[str]:
        raise ControlError("no scoreboard")

    keys = ScriptedKeys()
    with pytest.raises(ControlError):
        terminal.watch(gone, out, interval=1, count=None, terminal=True, keys=keys)
    assert keys.waits == []
    assert out.getvalue().endswith(SHOW_CURSOR + "\n")


def test_keyboard_off_a_terminal_reads_nothing() -> None:
    with terminal.keyboard(io.StringIO()) as keys:
        assert isinstance(keys, terminal.Sleeper)


def test_terminal_keys_cbreak_and_restore_even_on_error() -> None:
    parent, child_fd = os.openpty()
    try:
        before = termios.tcgetattr(child_fd)
        stream = os.fdopen(child_fd, closefd=False)
        with pytest.raises(KeyboardInterrupt), terminal.keyboard(stream) as keys:
            assert isinstance(keys, terminal.TerminalKeys)
            mode = termios.tcgetattr(child_fd)
            assert not mode[3] & (termios.ICANON | termios.ECHO)  # key by key, unechoed
            assert keys.wait(0.01) == ""
            os.write(parent, b"q")
            assert keys.wait(5) == "q"  # returns as soon as typed
            raise KeyboardInterrupt
        assert termios.tcgetattr(child_fd) == before
    finally:
        os.close(parent)
        os.close(child_fd)
