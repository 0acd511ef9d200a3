#!/usr/bin/env bash
# Create (or update) the reference venv at tools/reference/.venv. Safe to rerun.
#   tools/reference/setup_env.sh
# Then: tools/reference/.venv/bin/python tools/reference/make_fixtures.py [--check]
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -r requirements.txt
# --no-deps: the package's own requirements include GUI/3D tooling (gradio, open3d,
# xformers, ...) that the network code does not need; requirements.txt lists what it does.
"$VENV/bin/pip" install --no-deps depth-anything-3==0.1.1

# Fail early if an import the generator needs is missing.
DA3_LOG_LEVEL=ERROR "$VENV/bin/python" -W ignore -c "import depth_anything_3.api, safetensors, torch; print('reference venv ready: torch', torch.__version__)"
