//! Random finite MDPs for proptest, and plain-loop `f64` oracles for MDP values, canonicalisations
//! and distances, written from the formulas (`seed-formulas.md` §6, §17) independently of the
//! library code.

use proptest::prelude::*;

/// States of generated MDPs.
pub const N_STATES: core::ops::RangeInclusive<usize> = 2..=4;
/// Actions of generated MDPs.
pub const N_ACTIONS: core::ops::RangeInclusive<usize> = 2..=3;
/// Discounts of generated MDPs.
pub const GAMMA: core::ops::Range<f64> = 0.0..0.95;
/// Reward values.
pub const REWARD: core::ops::RangeInclusive<f64> = -1.0..=1.0;
/// Potential values.
pub const POTENTIAL: core::ops::RangeInclusive<f64> = -3.0..=3.0;

/// A random MDP in dense form (`f64`).
#[derive(Clone, Debug)]
pub struct MdpCase {
    /// `S`.
    pub s: usize,
    /// `A`.
    pub a: usize,
    /// `γ`.
    pub gamma: f64,
    /// `τ`, `(S, A, S')`.
    pub tau: Vec<f64>,
    /// `μ`, `(S)`.
    pub init: Vec<f64>,
}

impl MdpCase {
    /// `S·A·S`.
    pub fn full(&self) -> usize {
        self.s * self.a * self.s
    }

    /// `τ(s, a, t)`.
    pub fn t(&self, s: usize, a: usize, t: usize) -> f64 {
        self.tau[(s * self.a + a) * self.s + t]
    }

    /// The CSR form `(offsets, next, probs)` of `τ`, keeping only non-zero entries.
    pub fn sparse(&self) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
        let mut offsets = vec![0usize];
        let (mut next, mut probs) = (Vec::new(), Vec::new());
        for row in self.tau.chunks(self.s) {
            for (j, &p) in row.iter().enumerate() {
                if p > 0.0 {
                    next.push(j as u32);
                    probs.push(p);
                }
            }
            offsets.push(next.len());
        }
        (offsets, next, probs)
    }
}

/// A random MDP with `S` in `states`, `A` in `actions`, about 30 % zero transitions (every row
/// keeps at least one non-zero entry), and a positive initial distribution.
pub fn mdp_case_in(
    states: core::ops::RangeInclusive<usize>,
    actions: core::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = MdpCase> {
    (states, actions, GAMMA).prop_flat_map(|(s, a, gamma)| {
        (
            prop::collection::vec(0.05..1.0f64, s * a * s),
            prop::collection::vec(prop::bool::weighted(0.3), s * a * s),
            prop::collection::vec(0.05..1.0f64, s),
        )
            .prop_map(move |(mut w, zero, init)| {
                for (row, zrow) in w.chunks_mut(s).zip(zero.chunks(s)) {
                    let keep = row
                        .iter()
                        .enumerate()
                        .max_by(|x, y| x.1.total_cmp(y.1))
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    for (j, (x, &z)) in row.iter_mut().zip(zrow).enumerate() {
                        if z && j != keep {
                            *x = 0.0;
                        }
                    }
                    let sum: f64 = row.iter().sum();
                    row.iter_mut().for_each(|x| *x /= sum);
                }
                let isum: f64 = init.iter().sum();
                MdpCase {
                    s,
                    a,
                    gamma,
                    tau: w,
                    init: init.iter().map(|x| x / isum).collect(),
                }
            })
    })
}

/// [`mdp_case_in`] with the default ranges.
pub fn mdp_case() -> impl Strategy<Value = MdpCase> {
    mdp_case_in(N_STATES, N_ACTIONS)
}

/// A random MDP with a full reward, a second reward, a potential, a positive scale and an
/// S'-redistribution perturbation.
pub fn mdp_with_rewards()
-> impl Strategy<Value = (MdpCase, Vec<f64>, Vec<f64>, Vec<f64>, f64, Vec<f64>)> {
    mdp_case().prop_flat_map(|m| {
        let (n, s) = (m.full(), m.s);
        (
            Just(m),
            prop::collection::vec(REWARD, n),
            prop::collection::vec(REWARD, n),
            prop::collection::vec(POTENTIAL, s),
            0.1..10.0f64,
            prop::collection::vec(-2.0..2.0f64, n),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------------

/// Solves `A x = b` by Gaussian elimination with partial pivoting (plain loops).
pub fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Vec<f64> {
    for k in 0..n {
        let p = (k..n)
            .max_by(|&i, &j| a[i * n + k].abs().total_cmp(&a[j * n + k].abs()))
            .unwrap();
        for j in 0..n {
            a.swap(k * n + j, p * n + j);
        }
        b.swap(k, p);
        for i in k + 1..n {
            let f = a[i * n + k] / a[k * n + k];
            for j in k..n {
                a[i * n + j] -= f * a[k * n + j];
            }
            b[i] -= f * b[k];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|j| a[i * n + j] * x[j]).sum();
        x[i] = (b[i] - s) / a[i * n + i];
    }
    x
}

/// `r̄(s, a) = Σ τ R`.
pub fn rbar(m: &MdpCase, r: &[f64]) -> Vec<f64> {
    (0..m.s * m.a)
        .map(|i| (0..m.s).map(|t| m.tau[i * m.s + t] * r[i * m.s + t]).sum())
        .collect()
}

/// `V^π` for `π` given as `(S, A)` probabilities, by a linear solve.
pub fn values(m: &MdpCase, rb: &[f64], pi: &[f64]) -> Vec<f64> {
    let n = m.s;
    let mut mat = vec![0.0; n * n];
    let mut b = vec![0.0; n];
    for s in 0..n {
        mat[s * n + s] += 1.0;
        for a in 0..m.a {
            let w = pi[s * m.a + a];
            b[s] += w * rb[s * m.a + a];
            for t in 0..n {
                mat[s * n + t] -= m.gamma * w * m.t(s, a, t);
            }
        }
    }
    solve(mat, b, n)
}

/// `(S, A)` probabilities of a deterministic policy.
pub fn det_policy(m: &MdpCase, actions: &[usize]) -> Vec<f64> {
    let mut pi = vec![0.0; m.s * m.a];
    for (s, &a) in actions.iter().enumerate() {
        pi[s * m.a + a] = 1.0;
    }
    pi
}

/// Every deterministic policy with its return `J = μ·V`: `(best J, worst J, best policy)` by
/// enumeration of all `A^S` policies.
pub fn brute_force_returns(m: &MdpCase, r: &[f64]) -> (f64, f64, Vec<usize>) {
    let rb = rbar(m, r);
    let total = m.a.pow(m.s as u32);
    let (mut best, mut worst, mut arg) = (f64::NEG_INFINITY, f64::INFINITY, vec![0; m.s]);
    for code in 0..total {
        let mut c = code;
        let actions: Vec<usize> = (0..m.s)
            .map(|_| {
                let a = c % m.a;
                c /= m.a;
                a
            })
            .collect();
        let v = values(m, &rb, &det_policy(m, &actions));
        let j: f64 = v.iter().zip(&m.init).map(|(v, p)| v * p).sum();
        if j > best {
            best = j;
            arg = actions.clone();
        }
        worst = worst.min(j);
    }
    (best, worst, arg)
}

/// `J(π)` for `(S, A)` probabilities.
pub fn policy_return(m: &MdpCase, r: &[f64], pi: &[f64]) -> f64 {
    let v = values(m, &rbar(m, r), pi);
    v.iter().zip(&m.init).map(|(v, p)| v * p).sum()
}

/// EPIC's canonical reward with coverage `ds`, `da`.
pub fn epic_canon(m: &MdpCase, r: &[f64], ds: &[f64], da: &[f64]) -> Vec<f64> {
    let (ns, na) = (m.s, m.a);
    let phi: Vec<f64> = (0..ns)
        .map(|s| {
            let mut acc = 0.0;
            for a in 0..na {
                for t in 0..ns {
                    acc += da[a] * ds[t] * r[(s * na + a) * ns + t];
                }
            }
            acc
        })
        .collect();
    let cbar: f64 = (0..ns).map(|s| ds[s] * phi[s]).sum();
    let mut out = vec![0.0; m.full()];
    for s in 0..ns {
        for a in 0..na {
            for t in 0..ns {
                let i = (s * na + a) * ns + t;
                out[i] = r[i] + m.gamma * phi[t] - phi[s] - m.gamma * cbar;
            }
        }
    }
    out
}

/// DARD's canonical reward (quadruple loop over the definition).
pub fn dard_canon(m: &MdpCase, r: &[f64], da: &[f64]) -> Vec<f64> {
    let (ns, na) = (m.s, m.a);
    let rb = rbar(m, r);
    let phi: Vec<f64> = (0..ns)
        .map(|s| (0..na).map(|a| da[a] * rb[s * na + a]).sum())
        .collect();
    let mut out = vec![0.0; m.full()];
    for s in 0..ns {
        for a in 0..na {
            for t in 0..ns {
                let mut third = 0.0;
                for b in 0..na {
                    for s1 in 0..ns {
                        for s2 in 0..ns {
                            third +=
                                da[b] * m.t(s, b, s1) * m.t(t, b, s2) * r[(s1 * na + b) * ns + s2];
                        }
                    }
                }
                let i = (s * na + a) * ns + t;
                out[i] = r[i] + m.gamma * phi[t] - phi[s] - m.gamma * third;
            }
        }
    }
    out
}

/// STARC's VAL canonical reward, expanded to `(S, A, S')`.
pub fn val_canon(m: &MdpCase, r: &[f64], pi: &[f64]) -> Vec<f64> {
    let rb = rbar(m, r);
    let v = values(m, &rb, pi);
    let mut out = vec![0.0; m.full()];
    for s in 0..m.s {
        for a in 0..m.a {
            let ev: f64 = (0..m.s).map(|t| m.t(s, a, t) * v[t]).sum();
            let c = rb[s * m.a + a] + m.gamma * ev - v[s];
            for t in 0..m.s {
                out[(s * m.a + a) * m.s + t] = c;
            }
        }
    }
    out
}

/// Weighted Pearson distance `sqrt((1 − ρ)/2)` by the textbook formula.
pub fn pearson(x: &[f64], y: &[f64], w: &[f64]) -> f64 {
    let ws: f64 = w.iter().sum();
    let mx = x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / ws;
    let my = y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / ws;
    let mut vx = 0.0;
    let mut vy = 0.0;
    let mut c = 0.0;
    for i in 0..x.len() {
        vx += w[i] * (x[i] - mx).powi(2);
        vy += w[i] * (y[i] - my).powi(2);
        c += w[i] * (x[i] - mx) * (y[i] - my);
    }
    let rho = (c / (vx.sqrt() * vy.sqrt())).clamp(-1.0, 1.0);
    ((1.0 - rho) / 2.0).sqrt()
}

/// Weighted `Lp` norm (`p = ∞`: max over positive weights).
pub fn lp(x: &[f64], w: &[f64], p: f64) -> f64 {
    if p.is_infinite() {
        return x
            .iter()
            .zip(w)
            .filter(|(_, w)| **w > 0.0)
            .fold(0.0f64, |m, (x, _)| m.max(x.abs()));
    }
    x.iter()
        .zip(w)
        .map(|(x, w)| w * x.abs().powf(p))
        .sum::<f64>()
        .powf(1.0 / p)
}

/// Product weights `D_S(s)·D_A(a)·D_S(s')` (EPIC's coverage).
pub fn coverage_weights(m: &MdpCase, ds: &[f64], da: &[f64]) -> Vec<f64> {
    let mut w = vec![0.0; m.full()];
    for s in 0..m.s {
        for a in 0..m.a {
            for t in 0..m.s {
                w[(s * m.a + a) * m.s + t] = ds[s] * da[a] * ds[t];
            }
        }
    }
    w
}

/// Dynamics weights `D_S(s)·D_A(a)·τ(s, a, s')` (DARD's default).
pub fn dynamics_weights(m: &MdpCase, ds: &[f64], da: &[f64]) -> Vec<f64> {
    let mut w = vec![0.0; m.full()];
    for s in 0..m.s {
        for a in 0..m.a {
            for t in 0..m.s {
                w[(s * m.a + a) * m.s + t] = ds[s] * da[a] * m.t(s, a, t);
            }
        }
    }
    w
}

/// Casts a slice to `f32`.
pub fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}
