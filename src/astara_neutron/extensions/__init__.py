"""Directory named by ``api_extensions_path``.

Neutron loads every module here whose name does not start with ``_`` and
expects in it a class named after the module, capitalised.
"""
