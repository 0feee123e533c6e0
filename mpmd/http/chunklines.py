"""The chunk-size lines of one chunked request body, found and cleaned of BWS.

llhttp, in strict mode, refuses the BWS that RFC 9112 §7.1.1 allows around
``;`` and ``=`` in a chunk extension (``5 ; a=b``), and RFC 9110 §5.6.3 says a
recipient MUST parse and remove it.  :class:`ChunkLines` walks a chunked body
alongside llhttp: it counts chunk data off by the sizes the lines announce,
finds each size line, and hands back the bytes for llhttp with BWS removed
from those lines only.

Guarantees:

- Only SP and HTAB next to ``;`` or ``=`` inside a size line are removed
  (:func:`mpmd.http.wire.normalize_chunk_line`).  Chunk data, sizes, line ends
  and every other byte reach llhttp as sent, so a bad size, a bare LF or an
  overflow is still refused by llhttp.
- A read without such BWS is handed back as the same object (no copy); a
  size line split across reads is held back until its LF, bounded by
  ``limit`` (then :class:`RemoteProtocolError`, 400).
- The scan stops after the last chunk's line (``finished``): the trailer
  section is llhttp's alone.  The caller checks that llhttp saw as many size
  lines as :meth:`ChunkLines.scan` reports, so the two can never disagree
  silently.
"""

from __future__ import annotations

from mpmd.http.errors import RemoteProtocolError
from mpmd.http.wire import chunk_size, normalize_chunk_line


class ChunkLines:
    """Position in one chunked body: chunk bytes still to skip, a line begun."""

    __slots__ = ("_left", "_limit", "_partial", "bad", "finished")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._left = 0  # chunk data + its CRLF still to pass through
        self._partial = b""  # a size line begun in an earlier read
        self.finished = False  # the last chunk's line was scanned
        self.bad = False  # a size line without a hex size (llhttp must refuse it)

    def scan(self, data: bytes) -> tuple[bytes, bytes, int]:
        """(bytes for llhttp, bytes after the last chunk's line, size lines in the first)."""
        parts: list[bytes] = []
        pos = seg = lines = 0
        if self._partial:
            end = data.find(b"\n") + 1
            if not end:
                self._hold(data)
                return b"", b"", 0
            line, self._partial = self._partial + data[:end], b""
            parts.append(normalize_chunk_line(line))
            pos = seg = end
            lines = 1
            if not self._after(line):
                return b"".join(parts), data[end:], lines
        size = len(data)
        while pos < size:
            left = self._left
            if left:
                if pos + left >= size:
                    self._left = pos + left - size
                    pos = size
                    break
                pos += left
                self._left = 0
            end = data.find(b"\n", pos) + 1
            if not end:
                self._hold(data[pos:])
                break
            line = data[pos:end]
            lines += 1
            if b" " in line or b"\t" in line:
                parts += (data[seg:pos], normalize_chunk_line(line))
                seg = end
            pos = end
            if not self._after(line):
                break
        if not parts and pos == size:
            return data, b"", lines
        parts.append(data[seg:pos])
        rest = data[pos:] if self.finished else b""
        return b"".join(parts), rest, lines

    def _after(self, line: bytes) -> bool:
        """A whole size line was scanned: True while more chunks follow."""
        size = chunk_size(line)
        if size is None:
            self.bad = self.finished = True
        elif size == 0:
            self.finished = True
        else:
            self._left = size + 2  # the data and its CRLF
        return not self.finished

    def _hold(self, fragment: bytes) -> None:
        """Keep a size line's beginning until its LF comes."""
        self._partial += fragment
        if len(self._partial) > self._limit:
            raise RemoteProtocolError("chunk lines or trailers too large")
