"""The orchestrator's control API: see :mod:`.app` for its routes, :mod:`.auth` for who may call."""
