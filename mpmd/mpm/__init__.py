"""The MPMs: the interface, the registry, and one module per implementation."""
