"""The network tests' fixtures (a real local API per test), shared with the driver tests."""

from tests.unit.network.conftest import api, api_url, model

__all__ = ["api", "api_url", "model"]
