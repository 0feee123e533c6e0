"""The master process: binds, forks, reaps and supervises; knows no MPM by name.

``supervisor`` is the loop (wait, then commands in, exits reaped, generations
maintained) and ``dispatch`` decides what a command or a child's exit does
(reload, stop, graceful stop, back off; it owns the server's phase).
``fleet`` holds the generations and reaps, ``crew`` does what is done to one
generation's children (spawn, retire, recycle, drain, stop), ``launch``
starts one child, ``reload`` (with its state table in ``reload_states``)
stages a new generation before the old one is touched, and ``assemble`` is
the one place a configuration becomes a generation (for the start, a reload
and ``-X``).  Every fork, signal, reap, wait and clock reading goes through
``processes.Processes``, so tests/unit/master runs this whole package against
a fake, with no child forked.
"""
