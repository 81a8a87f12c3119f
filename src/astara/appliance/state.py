"""The last configuration that applied cleanly, kept on disk across restarts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import ValidationError

from astara.appliance.files import read_or_none, write_atomically
from astara.appliance.model import RouterConfig

LOG = logging.getLogger(__name__)


class ConfigStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> RouterConfig | None:
        """The saved configuration; None (and a logged error) if absent or unreadable."""
        text = read_or_none(self.path)
        if text is None:
            return None
        try:
            return RouterConfig.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            LOG.error("ignoring saved configuration %s: %s", self.path, exc)
            return None

    def save(self, config: RouterConfig) -> None:
        text = json.dumps(config.model_dump(mode="json"), indent=1, sort_keys=True)
        write_atomically(self.path, text + "\n", mode=0o600)
