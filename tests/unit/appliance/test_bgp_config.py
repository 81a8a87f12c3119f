"""bird2 configuration rendering for the appliance's BGP announcements."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from astara.appliance import bird_config
from astara.appliance.services.base import Target

from .configs import router_body, target


def _without_external_v4(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    ext = body["networks"][1]
    ext["interface"]["addresses"] = ["fd00:16::2/64"]
    ext["subnets"] = [s for s in ext["subnets"] if ":" in s["cidr"]]
    body["default_v4_gateway"] = None
    body["floating_ips"] = []
    return body


def _drop_external_network(body: dict[str, Any]) -> None:
    body["networks"].pop(1)
    body.update(floating_ips=[], default_v4_gateway=None)


def test_announces_internal_v6_subnets_to_the_external_v6_gateway() -> None:
    text = bird_config.render(target())
    assert text is not None
    assert "router id 172.16.0.2;" in text
    assert "neighbor fd00:16::1 as 64512;" in text
    assert "local as 64512;" in text
    assert "if net ~ [ fd00:1::/64 ] then accept;" in text
    assert 'interface "eth2";' in text


def test_never_touches_the_kernel_table_and_imports_nothing() -> None:
    text = bird_config.render(target()) or ""
    assert "protocol kernel" not in text
    assert "import none;" in text
    assert "import all" not in text
    assert "rr client" not in text


def test_isolated_and_v4_subnets_are_not_announced() -> None:
    body = router_body()
    body["networks"][3]["subnets"].append({"id": "s-iso6", "cidr": "fd00:2::/64"})
    body["networks"][3]["interface"]["addresses"].append("fd00:2::1/64")
    text = bird_config.render(target(body)) or ""
    assert "fd00:2::" not in text
    assert "10.1.0.0" not in text
    assert '"eth3"' not in text


def test_router_id_is_stable_without_external_v4() -> None:
    body = _without_external_v4(router_body())
    first = bird_config.render(target(body))
    assert first is not None
    assert "router id 0.0.0.2;" in first
    assert bird_config.render(target(body)) == first


def test_neighbor_asn_is_used_for_the_peer() -> None:
    body = router_body()
    body["neighbor_asn"] = 65001
    text = bird_config.render(target(body)) or ""
    assert "neighbor fd00:16::1 as 65001;" in text


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: b.update(neighbor_asn=None), id="no neighbor asn"),
        pytest.param(lambda b: b["networks"][1]["subnets"].pop(), id="no v6 upstream gateway"),
        pytest.param(lambda b: b["networks"][2]["subnets"].pop(), id="no tenant v6 prefix"),
        pytest.param(_drop_external_network, id="no external network"),
    ],
)
def test_no_bgp_when_something_is_missing(change: Any) -> None:
    body = router_body()
    change(body)
    assert bird_config.render(target(body)) is None


def test_refuses_an_interface_name_that_could_inject_syntax() -> None:
    good = target()
    bad = Target(good.config, {**good.ifnames, "int": 'eth2"; }'})
    with pytest.raises(ValueError, match="interface name"):
        bird_config.render(bad)


@pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed")
def test_bird_accepts_the_rendered_file(tmp_path: Path) -> None:
    path = tmp_path / "bird.conf"
    path.write_text(bird_config.render(target()) or "")
    done = subprocess.run(["bird", "-p", "-c", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
