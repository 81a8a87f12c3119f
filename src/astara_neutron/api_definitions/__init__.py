"""API definitions in neutron-lib's format, one module per Astara extension."""
