"""astara-orchestrator's own command-line options.

Worker processes parse the orchestrator's command line again (they are fresh
interpreters), so the main process and the workers must register the same
options: both take them from here.
"""

from __future__ import annotations

from oslo_config import cfg

from astara.common.config import CHECK_CONFIG_OPT
from astara.orchestrator.wiring import DEFAULT_WIRING

PROG = "astara-orchestrator"

WIRING_OPT = cfg.StrOpt(
    "wiring",
    default=DEFAULT_WIRING,
    help="Python path (module:Class) of the Wiring that assembles the orchestrator "
    "from the configuration; change it only to run tests, benchmarks or "
    "out-of-tree implementations.",
)

#: Everything astara-orchestrator's command line accepts besides --config-file.
CLI_OPTS = [WIRING_OPT]
#: The same, as a worker process parses it (--check-config never reaches a worker).
WORKER_CLI_OPTS = [CHECK_CONFIG_OPT, *CLI_OPTS]
