"""Numbers and times printed the way mod_status prints them.

Monitoring tools parse these strings, so the quirks are kept: APR's ``%g``
drops the leading zero (``.0507813``), uptimes read " 4 minutes 16 seconds"
with a leading space, byte counts switch units at Apache's thresholds.
"""

from __future__ import annotations

import time

KBYTE = 1024
MBYTE = 1048576
GBYTE = 1073741824
#: mod_status's DEFAULT_TIME_FORMAT, in local time (ap_ht_time(..., gmt=0))
TIME_FORMAT = "%A, %d-%b-%Y %H:%M:%S %Z"


def apr_g(value: float, precision: int = 6) -> str:
    """C's ``%g`` as APR's formatter prints it: no zero before the point."""
    text = f"{value:.{precision}g}"
    if text.startswith("0."):
        return text[1:]
    if text.startswith("-0."):
        return "-" + text[2:]
    return text


def show_time(seconds: int) -> str:
    """mod_status's ``show_time``: " 2 days 3 hours 1 minute 5 seconds" (leading space)."""
    minutes, secs = divmod(max(seconds, 0), 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    parts = ((days, "day"), (hrs, "hour"), (mins, "minute"), (secs, "second"))
    return "".join(f" {n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n)


def ht_time(when: float) -> str:
    """``ap_ht_time(pool, t, DEFAULT_TIME_FORMAT, 0)``: local time with its zone."""
    return time.strftime(TIME_FORMAT, time.localtime(when))


def format_byte_out(count: float) -> str:
    """mod_status's ``format_byte_out`` (B below 5 kB, then kB, MB, GB)."""
    if count < 5 * KBYTE:
        return f"{int(count)} B"
    if count < MBYTE / 2:
        return f"{count / KBYTE:.1f} kB"
    if count < GBYTE / 2:
        return f"{count / MBYTE:.1f} MB"
    return f"{count / GBYTE:.1f} GB"


def format_kbyte_out(kbytes: int) -> str:
    """mod_status's ``format_kbyte_out``."""
    if kbytes < KBYTE:
        return f"{kbytes} kB"
    if kbytes < MBYTE:
        return f"{kbytes / KBYTE:.1f} MB"
    return f"{kbytes / MBYTE:.1f} GB"
