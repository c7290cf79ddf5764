//! Row parallelism for the non-matmul kernels: a kernel cuts its buffers into one contiguous
//! block of rows per thread and runs the same single-threaded loop on each block in a scoped
//! thread (the calling thread takes the first block). Rows never share an output, so a block
//! computes exactly what the whole loop computed for those rows: results are bit-identical to one
//! thread. Reductions over rows (`LayerNorm`'s and the bias's weight gradients) are split over
//! columns instead, each column summed over the rows in order, for the same reason.

use std::cell::Cell;
use std::ops::Range;
use std::sync::OnceLock;

thread_local! {
    /// A per-thread override of [`threads`] (tests compare thread counts with it).
    static OVERRIDE: Cell<Option<usize>> = const { Cell::new(None) };
    /// Whether the kernels called from this thread may use their AVX2 builds (tests turn it off
    /// to compare them with the baseline builds).
    static SIMD: Cell<bool> = const { Cell::new(true) };
}

/// Whether kernels called from this thread may use AVX2 builds.
#[cfg_attr(
    not(target_arch = "x86_64"),
    expect(dead_code, reason = "only the x86-64 kernels have AVX2 builds")
)]
#[inline]
pub(crate) fn simd_allowed() -> bool {
    SIMD.with(Cell::get)
}

/// Runs `f` with the kernels called from this thread on their baseline builds only (no AVX2).
#[cfg(test)]
pub(crate) fn without_simd<R>(f: impl FnOnce() -> R) -> R {
    let old = SIMD.with(|o| o.replace(false));
    let r = f();
    SIMD.with(|o| o.set(old));
    r
}

/// Runs `f` with the kernels called from this thread using `n ≥ 1` threads.
#[cfg(test)]
pub(crate) fn with_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    let old = OVERRIDE.with(|o| o.replace(Some(n.max(1))));
    let r = f();
    OVERRIDE.with(|o| o.set(old));
    r
}

/// Below this many elements of work a kernel stays on the calling thread (a scoped thread costs
/// tens of microseconds to start).
pub(crate) const MIN_PARALLEL_WORK: usize = 1 << 15;

/// Worker threads of the row-parallel kernels: the environment variable `REWARDKIT_THREADS` if it
/// holds a positive integer, else the machine's available parallelism (read once). Always 1 on
/// wasm32 (the browser's `wasm32-unknown-unknown` has no threads): every kernel runs inline.
pub fn threads() -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("REWARDKIT_THREADS")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
    })
}

/// `n` rows cut into at most [`threads`] contiguous blocks of near-equal size, fewer when a row
/// carries `work_per_row` elements and a block would have less than [`MIN_PARALLEL_WORK`] of them.
pub(crate) fn blocks(n: usize, work_per_row: usize) -> Vec<Range<usize>> {
    let total = n.saturating_mul(work_per_row.max(1));
    let k = OVERRIDE
        .with(Cell::get)
        .unwrap_or_else(threads)
        .min(total / MIN_PARALLEL_WORK)
        .clamp(1, n.max(1));
    let (base, extra) = (n / k, n % k);
    let mut start = 0;
    (0..k)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

/// Cuts `s` into the blocks' sub-slices, `stride` elements per row.
pub(crate) fn split_mut<'a, T>(
    mut s: &'a mut [T],
    blocks: &[Range<usize>],
    stride: usize,
) -> Vec<&'a mut [T]> {
    blocks
        .iter()
        .map(|r| {
            let (head, tail) = core::mem::take(&mut s).split_at_mut(r.len() * stride);
            s = tail;
            head
        })
        .collect()
}

/// Cuts `s` into the blocks' sub-slices, `stride` elements per row.
pub(crate) fn split<'a, T>(s: &'a [T], blocks: &[Range<usize>], stride: usize) -> Vec<&'a [T]> {
    blocks
        .iter()
        .map(|r| &s[r.start * stride..r.end * stride])
        .collect()
}

/// Runs `f` on every item, the first on the calling thread and the others on scoped threads, and
/// returns the results in item order. Kernels that `f` calls run on one thread (no nesting).
pub(crate) fn run<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Vec::new();
    };
    let rest: Vec<T> = items.collect();
    if rest.is_empty() {
        return vec![f(first)];
    }
    // Kernels called inside a block (a decode step's products) stay on the block's thread.
    let f = &|item: T| {
        let old = OVERRIDE.with(|o| o.replace(Some(1)));
        let r = f(item);
        OVERRIDE.with(|o| o.set(old));
        r
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = rest
            .into_iter()
            .map(|item| scope.spawn(move || f(item)))
            .collect();
        let mut out = vec![f(first)];
        for h in handles {
            match h.join() {
                Ok(r) => out.push(r),
                // A panic in a worker is a bug in a kernel: re-raise it on the caller's thread.
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        out
    })
}

/// The first error of a set of block results.
pub(crate) fn first_err<E>(results: Vec<Result<(), E>>) -> Result<(), E> {
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_rows_in_order() {
        for (n, w) in [
            (0, 1),
            (1, 1 << 20),
            (7, 1 << 20),
            (1000, 64),
            (1000, 1 << 16),
        ] {
            let b = blocks(n, w);
            assert!(!b.is_empty() && b.len() <= threads());
            assert_eq!(b.first().map(|r| r.start), Some(0));
            assert_eq!(b.last().map(|r| r.end), Some(n));
            for pair in b.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
        }
        // Small work stays on one thread.
        assert_eq!(blocks(10, 10).len(), 1);
    }

    #[test]
    fn split_and_run_touch_every_element_once() {
        let rows = 1 << 12;
        let b = with_threads(3, || blocks(rows, MIN_PARALLEL_WORK));
        assert_eq!(b.len(), 3);
        let mut data = vec![0u32; rows * 3];
        let parts = split_mut(&mut data, &b, 3);
        let items: Vec<_> = parts.into_iter().zip(b.iter().cloned()).collect();
        run(items, |(part, r)| {
            for (row, x) in r.zip(part.chunks_exact_mut(3)) {
                x.iter_mut().for_each(|v| *v += row as u32 + 1);
            }
        });
        for (row, x) in data.chunks_exact(3).enumerate() {
            assert!(x.iter().all(|&v| v == row as u32 + 1));
        }
    }
}
