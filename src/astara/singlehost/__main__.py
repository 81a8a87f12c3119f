"""``python -m astara.singlehost``: single-host mode without the orchestrator's flag."""

import sys

from astara.singlehost.runner import run_single_host

if __name__ == "__main__":
    sys.exit(run_single_host(sys.argv[1:]))
