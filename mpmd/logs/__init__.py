"""Logging: the structured error log, the access log, and what children say.

:mod:`~mpmd.logs.setup` configures structlog once per process (JSON off a
terminal, a coloured console on one; stable snake_case event names);
:mod:`~mpmd.logs.access` writes Apache ``LogFormat`` lines (Common and
Combined built in); :mod:`~mpmd.logs.capture` turns children's stderr into
``child_stderr`` events in the master, and :mod:`~mpmd.logs.failures` carries
why a child could not start back to the master in full.
"""
