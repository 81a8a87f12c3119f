"""The HTTP surface: one module per kind of route, all thin over the services."""
