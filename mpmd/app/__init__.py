"""Request handlers: the router, the WSGI adapter and loader, static files.

:mod:`~mpmd.app.router` maps ``<Location>`` sections (with ``Require``,
:mod:`~mpmd.app.authz`) to handlers; :mod:`~mpmd.app.wsgi` and
:mod:`~mpmd.app.loader` run a PEP 3333 application, :mod:`~mpmd.app.static`
serves DocumentRoot (opening files only beneath it, :mod:`~mpmd.app.beneath`),
:mod:`~mpmd.app.errorpages` builds Apache's error pages, and
:mod:`~mpmd.app.factory` builds a generation's handler (checked in the master,
built in each child from :mod:`~mpmd.app.runtime`).  Every handler is written
against :mod:`mpmd.http.exchange` only, so it runs unchanged under every MPM
and every driver.
"""
