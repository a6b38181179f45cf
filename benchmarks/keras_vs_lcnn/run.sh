#!/usr/bin/env bash
# Train/inference speed of lcnn's LCNN-9 against the original Keras LCNN-9 on 2 CPU threads.
# Creates benchmarks/.venv-keras (Keras 3 + tensorflow-cpu from PyPI) on first use; lcnn runs from
# the repository's .venv. Extra arguments go to compare.py, e.g. --rounds 1 --steps 2 for a smoke run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
keras_venv="$root/benchmarks/.venv-keras"
if [ ! -x "$keras_venv/bin/python" ]; then
    python3 -m venv "$keras_venv"
    "$keras_venv/bin/pip" install --quiet tensorflow-cpu keras
fi
echo "uptime before: $(uptime)"
cd "$here"
PYTHONPATH="$root/src" "$root/.venv/bin/python" compare.py --keras-python "$keras_venv/bin/python" "$@"
echo "uptime after: $(uptime)"
