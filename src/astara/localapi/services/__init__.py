"""What each API call does to the network model, one module per resource.

Service functions run inside a :class:`~astara.localapi.transaction.Transaction`,
raise :mod:`~astara.localapi.errors` for anything the client must fix, queue the
notification Neutron would send, and return the resource as the API shows it.
"""
