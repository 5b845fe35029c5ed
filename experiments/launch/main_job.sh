#!/usr/bin/env bash
# The main job of the README's first command: the default experiment — a byte-level GPT trained on
# the fortunes corpus by 8 CPU ranks laid out as dp2 x pp2 x tp2 (tp innermost) with 1F1B, about half a
# minute on 2 cores. Extra arguments go to `trident train` (e.g. --set steps=100).
# Run from the repository root after building into build/.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
exec "$here/experiments/launch/launch.sh" 8 "$here/build/experiments/trident" train "$@"
