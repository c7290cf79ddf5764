#!/usr/bin/env bash
# The browser test, end to end (one command; run from anywhere):
#
#   bash web/test.sh
#
# Builds the demo (web/build.sh), computes the expected values with native rewardkit
# (`cargo run -p rewardkit-web --example expected`), installs playwright-core from
# web/package-lock.json, and drives the page in Debian's headless Chromium (web/test/browser.mjs).
# The screenshot lands in target/web-test/demo.png. Needs /usr/bin/chromium (apt-get install
# chromium) and Node.js >= 20 with npm; .ci/run installs them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash web/build.sh
cargo run -q -p rewardkit-web --example expected -- target/web-test/expected.json
(cd web && npm ci --no-audit --no-fund --loglevel=error)
node web/test/browser.mjs target/web-test/expected.json target/web-test/demo.png
