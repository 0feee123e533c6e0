"""The master process: binds, forks, reaps and supervises; knows no MPM by name.

``supervisor`` is the loop (commands in, exits reaped, generations
maintained); ``fleet`` applies its decisions to the children of each
generation, ``launch`` starts one child, ``reload`` (with its state table in
``reload_states``) stages a new generation before the old one is touched, and
``assemble`` is the one place a configuration becomes a generation (for the
start, a reload and ``-X``).  Every fork, signal, reap, wait and clock reading
goes through ``processes.Processes``, so tests/unit/master runs this whole
package against a fake, with no child forked.
"""
