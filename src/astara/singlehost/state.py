"""The state directory: everything single-host mode keeps between two starts.

One directory holds the whole installation, so ``rm -rf`` after
:func:`astara.singlehost.teardown.teardown` leaves the host as it was, and two
installations (a user's and a test's) never share a file:

- ``orchestrator.ini``: the configuration generated at each start (read by the
  worker processes too);
- ``astara.db``: the orchestrator's database; ``network.db``: the local API's;
- ``netns/``: the netns provisioner's records and the appliances' own state;
- ``metadata_secret``: the key the metadata proxy signs instance ids with,
  made once so a restart does not invalidate what appliances forward;
- ``control-api.token``: the token the control API asks astara-ctl for;
- ``provider_rules.json``: the operator's labels and rules (empty at first);
- ``host_ports.json``: the host's own ports on appliance bridges, so a later
  start or a teardown knows what the host added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from astara.common import secret_file


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / "orchestrator.ini"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.root / 'astara.db'}"

    @property
    def network_database_url(self) -> str:
        return f"sqlite:///{self.root / 'network.db'}"

    @property
    def netns_root(self) -> Path:
        return self.root / "netns"

    @property
    def provider_rules(self) -> Path:
        return self.root / "provider_rules.json"

    @property
    def host_ports(self) -> Path:
        return self.root / "host_ports.json"

    def create(self) -> None:
        """Make the directory and its starting files.

        Others may traverse it but not list it: dnsmasq drops to ``nobody``
        before reading its host files below ``netns/``. The files holding the
        secret are the owner's alone.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        if not self.provider_rules.exists():
            self.provider_rules.write_text("{}\n")

    def metadata_secret(self) -> str:
        """The metadata signing key, generated on first use and kept."""
        return secret_file.read_or_create(self.root / "metadata_secret")

    @property
    def control_token_file(self) -> Path:
        """The control API's token: astara-ctl reads it, so only root (the owner) can call."""
        return self.root / "control-api.token"

    def read_host_ports(self) -> dict[str, dict[str, str]]:
        """What the host plugged, by network id: ``{"device", "bridge", "role"}``."""
        try:
            loaded = json.loads(self.host_ports.read_text())
        except FileNotFoundError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def write_host_ports(self, ports: dict[str, dict[str, str]]) -> None:
        temporary = self.host_ports.with_suffix(".tmp")
        temporary.write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")
        temporary.replace(self.host_ports)
