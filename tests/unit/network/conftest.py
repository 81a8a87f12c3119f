"""Fixtures: a real local API per test, plain-HTTP access to it, and the client under test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from astara.network.neutron_api import NeutronNetworkModel

from .local_api import Api, local_api, model_for, serve


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    with serve(local_api(tmp_path / "network.db")) as url:
        yield url


@pytest.fixture
def api(api_url: str) -> Api:
    return Api(api_url)


@pytest.fixture
def model(api_url: str) -> NeutronNetworkModel:
    return model_for(api_url)
