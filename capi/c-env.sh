# Sourced by capi/ci.sh and capi/bench.sh: the C compiler flags of the C API's programs and the
# system libraries a program linked against librewardkit.a needs.
#
#   PROFILE=debug|release; source capi/c-env.sh
#   -> RK_CFLAGS, RK_LIBDIR (target/$PROFILE), RK_STATIC_LIBS (from rustc --print native-static-libs)

# -std=c11 (ISO C) also turns floating-point contraction off; -ffp-contract=off says so explicitly:
# the C side computes inputs with the same roundings as the Rust side.
RK_CFLAGS="-std=c11 -pedantic -ffp-contract=off -Wall -Wextra -Werror -Icapi/include -Icapi/examples"
RK_LIBDIR="${CARGO_TARGET_DIR:-target}/${PROFILE:-debug}"
rk_release_flag=""
if [ "${PROFILE:-debug}" = release ]; then rk_release_flag="--release"; fi
# The libraries Rust's std needs when linked statically (for example -lgcc_s -lutil -lrt -lpthread
# -lm -ldl -lc on glibc), as rustc reports them for this target.
RK_STATIC_LIBS="$(cargo rustc -q $rk_release_flag -p rewardkit-capi --lib --crate-type staticlib \
  -- --print native-static-libs 2>&1 | sed -n 's/.*native-static-libs: //p' | tail -n 1)"
if [ -z "$RK_STATIC_LIBS" ]; then
  echo "could not read the native static libraries from rustc" >&2
  exit 1
fi
export RK_CFLAGS RK_LIBDIR RK_STATIC_LIBS
