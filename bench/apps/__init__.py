"""The applications every server under test runs, copied into a temporary site.

Each module is tiny and imports only the standard library, so that what is measured is
the server, not the application.  The package itself is never imported by the servers:
the files are copied next to the generated data (see bench.site).
"""
