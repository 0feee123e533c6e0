"""Logging: the structured error log (setup) and the Apache-format access log (access)."""
