"""HTTP/1.1 for the children: a pure core, one session, two ways of waiting.

The sans-I/O core turns bytes into events and responses into bytes:
:mod:`~mpmd.http.connection` (the state machine) on :mod:`~mpmd.http.reader`,
:mod:`~mpmd.http.head`, :mod:`~mpmd.http.chunklines`, :mod:`~mpmd.http.framing`,
:mod:`~mpmd.http.wire`, with :mod:`~mpmd.http.events`, :mod:`~mpmd.http.errors`,
:mod:`~mpmd.http.timeouts` and the error pages of :mod:`~mpmd.http.pages`.
Over a socket, :mod:`~mpmd.http.channel` does the I/O of one connection,
:mod:`~mpmd.http.socket_exchange` is a handler's view of one request
(:mod:`~mpmd.http.exchange` is the handler contract), and
:mod:`~mpmd.http.session` serves a connection's requests for every MPM.  The
drivers differ only in how they wait for a next request:
:mod:`~mpmd.http.blocking` in the serving thread (prefork, worker),
:mod:`~mpmd.http.parkable` in the event MPM's poller.  What a driver is given
is in :mod:`~mpmd.http.settings`.
"""
