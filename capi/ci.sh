#!/usr/bin/env bash
# The C API's CI (issue 15), run by .ci/run after the Rust tests; also by hand: bash capi/ci.sh
#
#  1. the header: regenerate capi/include/rewardkit.h with the pinned cbindgen and fail when the
#     checked-in copy differs (git diff --exit-code);
#  2. build librewardkit (static and shared), the expected values of the C test from
#     rewardkit-core (capi/examples/capi_expected.rs), and compile the C example and the C test with
#     cc -Wall -Wextra -Werror against the header, linked against each library;
#  3. run them: the C test (every result bit for bit, bad input with its code and message) and the
#     C example, whose output must equal that of core/examples/grpo_step.rs byte for byte;
#  4. the same programs under Valgrind (no leak, no invalid access) and AddressSanitizer +
#     UndefinedBehaviorSanitizer (C side; the static library linked in);
#  5. the header compiles as C++ (extern "C"), and the README's CMake snippet
#     (capi/examples/cmake/CMakeLists.txt) builds and links the example;
#  6. the call-overhead benchmark, as a smoke run (capi/bench.sh --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
CBINDGEN_VERSION=0.29.4

step() { printf '\n--- capi: %s (%s)\n' "$*" "$(date +%T)"; }

step "header: regenerate with cbindgen $CBINDGEN_VERSION and compare"
if ! cbindgen --version 2>/dev/null | grep -x "cbindgen $CBINDGEN_VERSION" >/dev/null; then
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
fi
(cd capi && cbindgen --quiet --config cbindgen.toml --output include/rewardkit.h)
git diff --exit-code -- capi/include/rewardkit.h || {
  echo "capi/include/rewardkit.h is stale: regenerate it (see capi/cbindgen.toml) and commit"
  exit 1
}

step "build librewardkit (debug: .a and .so) and the expected values"
PROFILE=debug
source capi/c-env.sh
cargo build -q -p rewardkit-capi --lib
OUT=target/capi
mkdir -p "$OUT"
cargo run -q -p rewardkit-capi --example capi_expected -- "$OUT/expected.txt"
cargo run -q -p rewardkit-core --example grpo_step > "$OUT/grpo_step_rust.txt"

step "compile the C example and the C test (cc -Wall -Wextra -Werror), static and shared"
# shellcheck disable=SC2086 # RK_CFLAGS and RK_STATIC_LIBS are word lists
for prog in examples/grpo_step tests/capi_test; do
  name="$(basename "$prog")"
  cc $RK_CFLAGS "capi/$prog.c" "$RK_LIBDIR/librewardkit.a" $RK_STATIC_LIBS -o "$OUT/${name}_static"
  cc $RK_CFLAGS "capi/$prog.c" -L"$RK_LIBDIR" -lrewardkit -lm -o "$OUT/${name}_shared"
  cc $RK_CFLAGS -g -fsanitize=address,undefined -fno-omit-frame-pointer "capi/$prog.c" \
    "$RK_LIBDIR/librewardkit.a" $RK_STATIC_LIBS -o "$OUT/${name}_asan"
done
LIBDIR_ABS="$(realpath "$RK_LIBDIR")"
export LD_LIBRARY_PATH="$LIBDIR_ABS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The shared build must load the library just built, not another one (no `grep -q`: it would
# close the pipe early, and ldd's SIGPIPE fails the pipeline under pipefail).
ldd "$OUT/capi_test_shared" | grep -F "$LIBDIR_ABS/librewardkit.so" >/dev/null || {
  echo "capi_test_shared does not load $LIBDIR_ABS/librewardkit.so:"
  ldd "$OUT/capi_test_shared"
  exit 1
}

step "run: the C test and the C example (output equal to the Rust example's)"
for link in static shared; do
  "$OUT/capi_test_$link" "$OUT/expected.txt"
  "$OUT/grpo_step_$link" > "$OUT/grpo_step_c_$link.txt"
  diff -u "$OUT/grpo_step_rust.txt" "$OUT/grpo_step_c_$link.txt"
  echo "grpo_step.c ($link) printed exactly what grpo_step.rs prints"
done

step "Valgrind (memcheck: leaks and invalid accesses are errors)"
if ! command -v valgrind >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
for prog in capi_test_static capi_test_shared grpo_step_static; do
  valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
    "$OUT/$prog" "$OUT/expected.txt" > "$OUT/$prog.valgrind.txt"
  tail -n 1 "$OUT/$prog.valgrind.txt"
  echo "valgrind $prog: no errors, no leaks"
done

step "AddressSanitizer + UndefinedBehaviorSanitizer (leak detection on)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$OUT/capi_test_asan" "$OUT/expected.txt"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$OUT/grpo_step_asan" > /dev/null
echo "sanitizers: clean"

step "the header compiles as C++"
printf '#include "rewardkit.h"\nint main() { return RK_VERSION_COMPATIBLE(rk_version()) ? 0 : 1; }\n' \
  > "$OUT/cpp_check.cpp"
c++ -std=c++11 -Wall -Wextra -Werror -Icapi/include "$OUT/cpp_check.cpp" -L"$RK_LIBDIR" -lrewardkit \
  -o "$OUT/cpp_check"
"$OUT/cpp_check"

step "the README's CMake snippet links the static library"
if ! command -v cmake >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >/dev/null
fi
cmake -S capi/examples/cmake -B "$OUT/cmake" -DREWARDKIT_DIR="$PWD" \
  -DREWARDKIT_LIB_DIR="$LIBDIR_ABS" > /dev/null
cmake --build "$OUT/cmake" > /dev/null
"$OUT/cmake/grpo_step" | diff -u "$OUT/grpo_step_rust.txt" -
echo "CMake build: grpo_step links and prints the Rust example's output"

step "call-overhead benchmark (smoke run; full run: bash capi/bench.sh)"
bash capi/bench.sh --quick
