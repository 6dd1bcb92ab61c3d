#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job end to end on the embedded defaults:
# `skewless demo` (options: --preset tiny|small|medium|large, --fresh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/skewless demo "$@"
