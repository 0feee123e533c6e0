"""mpmd's benchmark harness: mpmd measured side by side with its peers, in one run.

Responsible for installing the load generator and the peer servers (outside the
project's environment), starting every server under test in its own process group,
measuring the scenarios interleaved (A, B, A, B ...) so that drift between batches
cancels, and writing JSON, Markdown and plots.  Guarantees: every server it starts is
stopped by killing its process group (never by name), also on errors; every load loop
is bounded in count and time and targets loopback only.  Never part of the test suite.
"""
