"""Database access behind the Astara API extensions."""
