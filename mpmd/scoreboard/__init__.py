"""The shared-memory scoreboard, laid out as Apache's ``include/scoreboard.h``.

:mod:`~mpmd.scoreboard.layout` holds the ctypes layout (a header, one process
slot per ``ServerLimit``, ``ServerLimit x ThreadLimit`` worker slots) and the
one ``MAP_SHARED`` region it lives in, anonymous or a ``ScoreBoardFile``;
:mod:`~mpmd.scoreboard.board` is the typed read/write API over that region
(the master claims and releases slots, each child writes its own);
:mod:`~mpmd.scoreboard.views` are the frozen snapshots the master's
maintenance and ``server-status`` read; :mod:`~mpmd.scoreboard.states` are
Apache's state letters (``_ S R W K D C L G I .``).
"""
