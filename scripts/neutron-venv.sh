#!/usr/bin/env bash
# Build (or reuse) the virtualenv that runs a real Neutron API server for
# tests/neutron: Neutron from PyPI, a WSGI server, the openstack CLI, and this
# repository in editable mode so astara_neutron loads into Neutron.
#
# Neutron pins its dependencies differently from Astara, so it gets its own
# virtualenv. Building takes about a minute; it is skipped when the venv's
# stamp still matches the inputs (this script, the requirements file and
# pyproject.toml), so a second run costs nothing.
#
# Usage: scripts/neutron-venv.sh [VENV_DIR]   (default: .venv-neutron)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-$ROOT/.venv-neutron}
REQUIREMENTS=$ROOT/tests/neutron/requirements.txt
PYTHON=${PYTHON:-python3.11}
STAMP=$VENV/.astara-neutron-stamp

wanted=$(cat "$0" "$REQUIREMENTS" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/neutron-db-manage" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi

echo "neutron-venv: building $VENV" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -r "$REQUIREMENTS"
# Only the repository itself: Astara's own dependencies are not needed to load
# astara_neutron, and installing them could move Neutron's pins.
"$VENV/bin/pip" install --quiet --no-deps -e "$ROOT"
echo "$wanted" > "$STAMP"
