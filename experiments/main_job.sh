#!/usr/bin/env bash
# The main job of the README's first command: 8 CPU ranks laid out as dp2 x pp2 x tp2 (tp
# innermost), the layout printed and every communicator checked.
# Run from the repository root after building into build/.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exec "$here/experiments/launch.sh" 8 "$here/build/experiments/trident" mesh --dp 2 --pp 2 --tp 2 "$@"
