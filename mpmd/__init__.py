"""mpmd: Apache httpd's Multi-Processing Modules for Python web services."""

__version__ = "0.1.0"
SERVER_SOFTWARE = f"mpmd/{__version__}"
