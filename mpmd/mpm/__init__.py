"""The MPMs: one package per implementation, the pieces they share beside them.

As httpd's ``server/mpm/``: :mod:`~mpmd.mpm.prefork`, :mod:`~mpmd.mpm.worker`
and :mod:`~mpmd.mpm.event` each export one MPM (its directives and clamps,
capabilities, pure maintenance policy, and the ``child_main`` its ``child``
module runs after fork).  :mod:`~mpmd.mpm.base` is the interface the master
sees, and :mod:`~mpmd.mpm.registry` maps ``LoadModule`` names to MPMs
(third parties add theirs through the ``mpmd.mpm`` entry-point group).  The
modules beside the packages are shared: the child bootstrap
(:mod:`~mpmd.mpm.child`, :mod:`~mpmd.mpm.privileges`), accepting
(:mod:`~mpmd.mpm.acceptor`), the scoreboard recording
(:mod:`~mpmd.mpm.recorder`, :mod:`~mpmd.mpm.recycle`), the pure spare
policies (:mod:`~mpmd.mpm.spares`, and :mod:`~mpmd.mpm.threaded` for worker
and event), the thread pool (:mod:`~mpmd.mpm.threadpool`) and the event
MPM's parked connections (:mod:`~mpmd.mpm.parking`).
"""
