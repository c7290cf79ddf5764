//! Integration tests for `rewardkit_core::{mdp, distance, objective}`: hand-worked literals on
//! small MDPs, properties on random MDPs (proptest, `f32` and `f64`, `f64` as the oracle for
//! `f32`), finite-difference gradient checks, convergence of the sampled estimators, and one test
//! per documented error.

use rewardkit_core::Real;
use rewardkit_core::mdp::{Mdp, SparseTransitions, Transitions};
use rewardkit_tests::mdp_support::MdpCase;

mod canon_grid;
mod doctor;
mod errors;
mod literals;
mod objective;
mod potential;
mod preference;
mod properties;
mod sampled;

/// An MDP's buffers converted to `F`, dense and sparse.
pub(crate) struct Owned<F> {
    pub s: usize,
    pub a: usize,
    pub gamma: F,
    pub tau: Vec<F>,
    pub init: Vec<F>,
    pub offsets: Vec<usize>,
    pub next: Vec<u32>,
    pub probs: Vec<F>,
}

impl<F: Real> Owned<F> {
    pub(crate) fn new(m: &MdpCase) -> Self {
        let (offsets, next, probs) = m.sparse();
        let cast = |x: &[f64]| x.iter().map(|&v| F::lit(v)).collect::<Vec<F>>();
        Self {
            s: m.s,
            a: m.a,
            gamma: F::lit(m.gamma),
            tau: cast(&m.tau),
            init: cast(&m.init),
            offsets,
            next,
            probs: cast(&probs),
        }
    }

    /// The dense MDP.
    pub(crate) fn dense(&self) -> Mdp<'_, F> {
        Mdp::new(
            self.s,
            self.a,
            Transitions::Dense(&self.tau),
            &self.init,
            self.gamma,
        )
        .unwrap()
    }

    /// The same MDP in sparse form.
    pub(crate) fn sparse(&self) -> Mdp<'_, F> {
        let sp = SparseTransitions::new(&self.offsets, &self.next, &self.probs);
        Mdp::new(
            self.s,
            self.a,
            Transitions::Sparse(sp),
            &self.init,
            self.gamma,
        )
        .unwrap()
    }
}

/// Casts `f64` values to `F`.
pub(crate) fn cast<F: Real>(x: &[f64]) -> Vec<F> {
    x.iter().map(|&v| F::lit(v)).collect()
}

/// The 2-state chain used by the literal tests: action 0 stays, action 1 switches (deterministic),
/// `μ = (1, 0)`.
pub(crate) const CHAIN_TAU: [f64; 8] = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
