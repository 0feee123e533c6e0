"""Request handlers: the WSGI adapter and loader, static files, and the router.

Every handler is written against :mod:`mpmd.http.exchange` only, so it runs
unchanged under every MPM and every driver.
"""
