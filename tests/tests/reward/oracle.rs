//! Plain-loop oracles transcribed from the reference code (Python), independent of the library's
//! implementation strategy (sorting, visitors, f64 accumulation).

use std::collections::{HashMap, HashSet};

/// Proptest settings: `default` cases, or `PROPTEST_CASES` when set (the heavy CI job).
pub(super) fn cases(default: u32) -> proptest::test_runner::Config {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    proptest::test_runner::Config::with_cases(n)
}

/// HAPO `utils.py::compute_len_reward` (cosine), with `None` for a Null history.
pub(super) fn hapo_cosine(h: Option<f64>, l: f64, correct: bool, w: f64) -> f64 {
    let Some(h) = h else { return 0.0 };
    let mut r = if l < 2.0 * h {
        ((l / h) * (std::f64::consts::PI / 2.0)).cos()
    } else {
        std::f64::consts::PI.cos()
    };
    r = if correct { r.max(-0.7) } else { r.min(0.0) };
    r * w
}

/// HAPO `utils.py::compute_repetition_penalty_reward` (set-based, in order).
pub(super) fn hapo_repetition(tokens: &[u32], n: usize, max_penalty: f64, only_start: bool) -> f64 {
    if max_penalty == 0.0 || tokens.len() < n {
        return 0.0;
    }
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    for s in 0..=tokens.len() - n {
        let g = &tokens[s..s + n];
        if seen.contains(g) {
            repeated.push(s);
        }
        seen.insert(g);
    }
    let mut pen = vec![0.0; tokens.len()];
    let mut curr_end: i64 = -1;
    for &s in &repeated {
        if !only_start || s as i64 > curr_end {
            for p in pen.iter_mut().skip(s).take(n) {
                *p = max_penalty;
            }
        }
        curr_end = (s + n - 1) as i64;
    }
    pen.iter().sum::<f64>() / pen.len() as f64
}

/// Demystify `RepetitionDensePenalty.reward` for one response (`only_start` with `start + n`).
pub(super) fn dense_repetition(
    tokens: &[u32],
    n: usize,
    penalty: f64,
    only_start: bool,
) -> Vec<f64> {
    let mut out = vec![0.0; tokens.len()];
    if tokens.len() < n {
        return out;
    }
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    for s in 0..=tokens.len() - n {
        let g = &tokens[s..s + n];
        if seen.contains(g) {
            repeated.push(s);
        }
        seen.insert(g);
    }
    let mut curr_end: i64 = -1;
    for &s in &repeated {
        if !only_start || s as i64 > curr_end {
            for p in out.iter_mut().skip(s).take(n) {
                *p = penalty;
            }
        }
        curr_end = (s + n) as i64;
    }
    out
}

/// LASER `detect_token_ngram_repetition_optimized_reversed`: the returned "true length".
pub(super) fn laser_detect(tokens: &[u32]) -> usize {
    let len = tokens.len();
    let mut n = 4usize;
    if len <= n * 2 {
        return len;
    }
    n = if len < 30 {
        2
    } else if len < 100 {
        3
    } else {
        n.min(4)
    };
    // The reference spells out three cases (< 50, < 200, else) with the first two equal.
    let threshold = if len < 200 { 2 } else { 3 };
    let mut positions: HashMap<Vec<u32>, Vec<usize>> = HashMap::new();
    for i in (0..=len - n).rev() {
        let g = tokens[i..i + n].to_vec();
        let distinct: HashSet<&u32> = g.iter().collect();
        if distinct.len() == 1 && g.len() > 2 {
            continue;
        }
        let v = positions.entry(g).or_default();
        v.push(i);
        if v.len() >= threshold {
            let mut p = v.clone();
            p.sort_unstable();
            for j in 0..p.len() - 1 {
                if p[j + 1] - p[j] < len / 3 {
                    return *p.iter().min().unwrap();
                }
            }
        }
    }
    if len >= n * 4 {
        let mut pat: HashMap<Vec<u32>, usize> = HashMap::new();
        for i in (0..=len - n * 2).rev() {
            let p = tokens[i..i + n * 2].to_vec();
            if let Some(&prev) = pat.get(&p) {
                return i.min(prev);
            }
            pat.insert(p, i);
        }
    }
    len
}

/// PAR `calculate_relative_sigmoid` over the first `m` references.
pub(super) fn par(r: f64, refs: &[f64], k: f64, m: usize) -> f64 {
    let refs = &refs[..m.min(refs.len())];
    refs.iter()
        .map(|rr| 1.0 / (1.0 + (-k * (r - rr)).exp()))
        .sum::<f64>()
        / refs.len() as f64
}

/// Discounted return `Σ γᵗ r_t`, accumulated front to back.
pub(super) fn discounted(r: &[f64], gamma: f64) -> f64 {
    let mut g = 1.0;
    let mut s = 0.0;
    for &x in r {
        s += g * x;
        g *= gamma;
    }
    s
}
