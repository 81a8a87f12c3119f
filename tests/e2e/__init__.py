"""End-to-end tests: real network namespaces, bridges and packets (root only).

The shared fixtures live in ``conftest.py``; its docstring explains them.
"""
