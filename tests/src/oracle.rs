//! Plain-loop oracles written from the formulas, in `f64`, independent of the library code.

/// Members of each group, in ascending row order.
pub fn members(ids: &[u32], n_groups: usize) -> Vec<Vec<usize>> {
    let mut m = vec![Vec::new(); n_groups];
    for (i, &g) in ids.iter().enumerate() {
        m[g as usize].push(i);
    }
    m
}

/// Mean and sample (Bessel) standard deviation.
pub fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// GRPO: `(R − μ)/(σ + ε)` per group (`scale = false`: `R − μ`); singletons get `singleton(R)`.
pub fn grpo(
    r: &[f64],
    ids: &[u32],
    n_groups: usize,
    eps: f64,
    scale: bool,
    singleton: impl Fn(f64) -> f64,
) -> Vec<f64> {
    let mut out = vec![0.0; r.len()];
    for rows in members(ids, n_groups) {
        if rows.len() == 1 {
            out[rows[0]] = singleton(r[rows[0]]);
            continue;
        }
        let vals: Vec<f64> = rows.iter().map(|&i| r[i]).collect();
        let (mean, sd) = mean_std(&vals);
        let all_equal = vals.iter().all(|&v| v == vals[0]);
        for &i in &rows {
            out[i] = if all_equal {
                0.0
            } else if scale {
                (r[i] - mean) / (sd + eps)
            } else {
                r[i] - mean
            };
        }
    }
    out
}

/// RLOO: `Rᵢ − mean of the others`.
pub fn rloo(r: &[f64], ids: &[u32], n_groups: usize) -> Vec<f64> {
    let mut out = vec![0.0; r.len()];
    for rows in members(ids, n_groups) {
        if rows.len() == 1 {
            continue;
        }
        for &i in &rows {
            let others: f64 = rows.iter().filter(|&&j| j != i).map(|&j| r[j]).sum();
            out[i] = r[i] - others / (rows.len() - 1) as f64;
        }
    }
    out
}

/// Monte Carlo discounted return over the valid tokens of one row (masked tokens skipped).
pub fn mc_returns(r: &[f64], m: &[bool], gamma: f64) -> Vec<f64> {
    let t = r.len();
    let mut out = vec![0.0; t];
    for s in 0..t {
        if !m[s] {
            continue;
        }
        let mut disc = 1.0;
        let mut acc = 0.0;
        for k in s..t {
            if m[k] {
                acc += disc * r[k];
                disc *= gamma;
            }
        }
        out[s] = acc;
    }
    out
}

/// GAE of one row from its definition `Â_t = Σ_l (γλ)^l δ_{t+l}` over valid tokens.
pub fn gae_row(r: &[f64], v: &[f64], m: &[bool], gamma: f64, lambda: f64) -> Vec<f64> {
    let valid: Vec<usize> = (0..r.len()).filter(|&t| m[t]).collect();
    let delta: Vec<f64> = valid
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let next_v = valid.get(k + 1).map_or(0.0, |&u| v[u]);
            r[t] + gamma * next_v - v[t]
        })
        .collect();
    let mut out = vec![0.0; r.len()];
    for (k, &t) in valid.iter().enumerate() {
        let mut acc = 0.0;
        let mut w = 1.0;
        for d in &delta[k..] {
            acc += w * d;
            w *= gamma * lambda;
        }
        out[t] = acc;
    }
    out
}
