"""systemd integration without libsystemd: sd_notify, socket activation, journald levels.

Each module speaks one of systemd's documented protocols directly:
:mod:`~mpmd.systemd.notify` (sd_notify(3)), :mod:`~mpmd.systemd.activation`
(sd_listen_fds(3)) and :mod:`~mpmd.systemd.journal` (sd-daemon(3) priority
prefixes).  Outside systemd every one of them is a no-op.
"""
