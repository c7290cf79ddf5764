#!/usr/bin/env bash
# Times the STARC reference canonicalisations (Python transcription) and rewardkit's in one
# session on the same machine, and prints rewardkit's table with the reference's times and the
# speed-up (S = 256, A = 8, gamma = 0.95).
#
#   core/benches/anchors/compare_starc.sh [PYTHON] [CAP_SECONDS]
#
# PYTHON defaults to `python3` (needs numpy and torch); CAP_SECONDS (default 180) bounds each
# MinimalPotential run of the reference, whose time is then reported as a lower bound.
set -euo pipefail
cd "$(dirname "$0")/../../.."
py="${1:-python3}"
cap="${2:-180}"
out="$(mktemp)"
lscpu | grep -E "Model name|^CPU\(s\)" || true
"$py" core/benches/anchors/time_starc_reference.py "$out" --cap "$cap"
cat "$out"
REWARDKIT_STARC_REFERENCE="$out" cargo bench -p rewardkit-core --bench distances
