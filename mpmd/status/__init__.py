"""Observability: the scoreboard as Apache's mod_status shows it, and more.

* :mod:`~mpmd.status.collect` reads scoreboards into a frozen
  :class:`~mpmd.status.model.StatusReport` with mod_status's counting rules;
* renderers format that one report: :mod:`~mpmd.status.auto` (Apache's exact
  ``?auto`` text), :mod:`~mpmd.status.html`, :mod:`~mpmd.status.jsonview`,
  :mod:`~mpmd.status.prometheus`, :mod:`~mpmd.status.terminal`;
* :mod:`~mpmd.status.handler` provides the ``server-status`` and
  ``server-metrics`` handlers; :mod:`~mpmd.status.command` is ``mpmd status``,
  which reads the ScoreBoardFile found by :mod:`~mpmd.status.locate`.
"""
