#!/usr/bin/env bash
# The Python step of .ci/run (also runnable alone: `bash python/ci.sh`).
#
# 1. A virtual environment with the engines rewardkit is tested against (verl, TRL, Ray, torch)
#    and the build/test tools, installed from the package registry (python/requirements-ci.txt).
#    It is cached by that file's hash under ~/.cache, so only the first run on a machine pays the
#    install (about 6 GB, a few minutes); every run builds the wheel fresh from this tree.
# 2. fmt and clippy of the python crate (its own workspace: pyo3 configures itself from an
#    interpreter, so it is not part of the root `cargo test --workspace`).
# 3. `maturin build --release`: one abi3 wheel for every CPython >= 3.10; installed into the venv.
# 4. The type stubs rewardkit/_native.pyi: stubtest against the installed wheel (every name,
#    parameter and default; stubtest-allowlist.txt says what it cannot see), and mypy --strict on
#    tests/test_typing_usage.py.
# 5. pytest from python/tests against the installed wheel; a benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")"
t0=$(date +%s)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-dev >/dev/null
fi
req_hash="$(sha256sum requirements-ci.txt | cut -c1-16)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/rewardkit/python-venv-$req_hash"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import verl, trl, ray, maturin, pytest, hypothesis, mypy' >/dev/null 2>&1; then
  echo "python/ci.sh: creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r requirements-ci.txt
fi
echo "python/ci.sh: venv ready after $(( $(date +%s) - t0 )) s"

cargo fmt --check
# Its own target directory: pyo3's build script reruns when its configuration environment changes,
# and maturin configures it differently, so a shared one would rebuild pyo3 twice per run.
PYO3_PYTHON="$venv/bin/python" cargo clippy --release --all-targets --target-dir target/clippy -- -D warnings

wheels="$(mktemp -d)"
"$venv/bin/maturin" build --release --interpreter "$venv/bin/python" --out "$wheels"
ls "$wheels"/rewardkit-*-cp310-abi3-*.whl >/dev/null  # one abi3 wheel
"$venv/bin/pip" install -q --force-reinstall --no-deps "$wheels"/rewardkit-*.whl
rm -rf "$wheels"
echo "python/ci.sh: wheel installed after $(( $(date +%s) - t0 )) s"

# From python/tests, python/ is not on sys.path: the tests import the installed wheel (the source
# tree's rewardkit/ has no extension module); they read ../../tests/data/golden.
export MYPY_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/rewardkit/mypy-cache"  # not in the tree
(cd tests && "$venv/bin/python" -m mypy.stubtest rewardkit._native --allowlist ../stubtest-allowlist.txt \
  && "$venv/bin/python" -m mypy --strict test_typing_usage.py)
echo "python/ci.sh: stubs checked after $(( $(date +%s) - t0 )) s"
(cd tests && "$venv/bin/python" -c 'import rewardkit, sys; assert "site-packages" in rewardkit.__file__, rewardkit.__file__' \
  && "$venv/bin/pytest" -q -p no:cacheprovider)
"$venv/bin/python" bench/bench_engines.py --log2n 14 --reps 1 --skip-loops
echo "python/ci.sh: done in $(( $(date +%s) - t0 )) s"
