//! Benchmarks of the foundation: group advantages (every GRPO-family estimator on contiguous
//! groups, shuffled integer ids with and without the index build, verl's uid strings), GAE and
//! discounted returns, and the k3 KL estimator, each against a memory copy of the same bytes.
//!
//! The floor for an op that reads `R` bytes and writes `W` bytes is a copy of `(R + W)/2` bytes
//! (a copy reads and writes its size, so both move the same traffic).
//!
//! `cargo bench -p rewardkit-core --bench core_ops` (full sizes), `-- --quick` (smoke run). The
//! Python anchors for the same inputs are in `core/benches/anchors/advantages.py`.
#![allow(
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::std_instead_of_core,
    reason = "a benchmark prints its table; sizes are small casts"
)]

#[path = "common/mod.rs"]
mod common;

use common::{Harness, Rng};
use rewardkit_core::advantage::{
    Gae, Grpo, Scale, Singleton, discounted_returns, gae, gpg, group_mean_baseline, grpo,
    grpo_passk, opo, rloo,
};
use rewardkit_core::layout::label_hash;
use rewardkit_core::{GroupIndex, KlEstimator, KlPenalty, Mask};

/// A verl-style uid: `str(uuid.uuid4())`, 36 characters.
fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn main() {
    let h = Harness::from_args();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);

    // ---- group advantages: N = 2^20 f32 rewards in groups of K = 16 ----
    let n = h.size(1 << 20, 64);
    let k = 16;
    let g = n / k;
    let rewards: Vec<f32> = (0..n).map(|_| (rng.below(11) as f32) * 0.1).collect();
    let lens: Vec<f32> = (0..n).map(|_| (1 + rng.below(512)) as f32).collect();
    let mut out = vec![0.0f32; n];
    let contiguous = GroupIndex::uniform(n, k).expect("uniform groups");
    let mut ids: Vec<u32> = (0..n).map(|i| (i / k) as u32).collect();
    rng.shuffle(&mut ids);
    let shuffled = GroupIndex::new(&ids, g).expect("shuffled groups");
    let p = Grpo::<f32>::default();
    let bytes = 4 * n; // read the rewards, write the advantages
    h.header(&format!("advantages and KL (N = {n}, K = {k}, f32)"));
    let floor = h.copy_floor(bytes);
    let t = h.time(|| grpo(&mut out, &rewards, &contiguous, &p).expect("grpo"));
    h.row("grpo, contiguous groups", t, floor, n);
    let t = h.time(|| {
        group_mean_baseline(&mut out, &rewards, &contiguous, Singleton::Zero).expect("dr grpo")
    });
    h.row("dr_grpo (group mean baseline), contiguous", t, floor, n);
    let t = h.time(|| rloo(&mut out, &rewards, &contiguous, Singleton::Zero).expect("rloo"));
    h.row("rloo, contiguous groups", t, floor, n);
    let t = h.time(|| gpg(&mut out, &rewards, &contiguous, 1.0, Singleton::Zero).expect("gpg"));
    h.row("gpg, contiguous groups", t, floor, n);
    let pb = Grpo::<f32>::new(Scale::Batch, 1e-6, Singleton::Zero).expect("params");
    let t = h.time(|| grpo(&mut out, &rewards, &contiguous, &pb).expect("grpo batch"));
    h.row("grpo scale=batch (TRL), contiguous", t, floor, n);
    let t = h.time(|| grpo_passk(&mut out, &rewards, &contiguous, true, 1e-6).expect("passk"));
    h.row("grpo_passk, contiguous groups", t, floor, n);
    let floor_opo = h.copy_floor(6 * n); // rewards and lengths read, advantages written
    let t = h.time(|| opo(&mut out, &rewards, &lens, &contiguous, Singleton::Zero).expect("opo"));
    h.row("opo (reads lengths too), contiguous", t, floor_opo, n);
    let t = h.time(|| grpo(&mut out, &rewards, &shuffled, &p).expect("grpo"));
    h.row("grpo, shuffled group ids (prebuilt index)", t, floor, n);
    let t = h.time(|| rloo(&mut out, &rewards, &shuffled, Singleton::Zero).expect("rloo"));
    h.row("rloo, shuffled group ids (prebuilt index)", t, floor, n);
    let t = h.time(|| GroupIndex::new(&ids, g).expect("index"));
    h.row("GroupIndex::new from shuffled ids", t, floor, n);
    let t = h.time(|| {
        let idx = GroupIndex::new(&ids, g).expect("index");
        grpo(&mut out, &rewards, &idx, &p).expect("grpo");
    });
    h.row("grpo, shuffled ids, index build included", t, floor, n);
    // verl's uids: one uuid string per prompt, repeated K times, rows shuffled.
    let uids: Vec<String> = (0..g).map(|_| uuid(&mut rng)).collect();
    let labels: Vec<&str> = ids.iter().map(|&i| uids[i as usize].as_str()).collect();
    let t = h.time(|| GroupIndex::from_labels(&labels).expect("labels"));
    h.row("GroupIndex::from_labels, uuid strings", t, floor, n);
    let t = h.time(|| {
        let idx = GroupIndex::from_labels(&labels).expect("labels");
        grpo(&mut out, &rewards, &idx, &p).expect("grpo");
    });
    h.row("grpo from uuid strings, index build included", t, floor, n);
    let t = h.time(|| {
        let hashes: Vec<u64> = labels.iter().map(label_hash).collect();
        GroupIndex::from_label_hashes(&hashes).expect("hashes")
    });
    h.row("uuid strings hashed + from_label_hashes", t, floor, n);
    let t = h.time(|| {
        let hashes: Vec<u64> = labels.iter().map(label_hash).collect();
        let idx = GroupIndex::from_label_hashes(&hashes).expect("hashes");
        grpo(&mut out, &rewards, &idx, &p).expect("grpo");
    });
    h.row("grpo from hashed uuid strings, index included", t, floor, n);

    // ---- token recurrences: B = 1024, T = 1024 ----
    let (b, tl) = (h.size(1024, 8), h.size(1024, 8));
    let nt = b * tl;
    let lens: Vec<usize> = (0..b).map(|_| 1 + rng.below(tl)).collect();
    let mut bits = vec![false; nt];
    rewardkit_core::layout::prefix_mask(&mut bits, &lens, tl).expect("mask");
    let mask = Mask::new(&bits, tl).expect("mask");
    let tok_r: Vec<f32> = (0..nt).map(|_| rng.unit() as f32 - 0.5).collect();
    let vals: Vec<f32> = (0..nt).map(|_| rng.unit() as f32).collect();
    let (mut adv, mut ret) = (vec![0.0f32; nt], vec![0.0f32; nt]);
    let params = Gae::new(0.99f32, 0.95).expect("gae params");
    // GAE reads rewards, values (4 B each) and the mask (1 B), writes advantages and returns.
    let floor = h.copy_floor((9 * nt + 8 * nt) / 2);
    let t = h.time(|| gae(&mut adv, &mut ret, &tok_r, &vals, mask, &params).expect("gae"));
    h.row(&format!("gae (B = {b}, T = {tl})"), t, floor, nt);
    let floor = h.copy_floor((5 * nt + 4 * nt) / 2);
    let t = h.time(|| discounted_returns(&mut ret, &tok_r, mask, 0.99).expect("returns"));
    h.row(
        &format!("discounted returns (B = {b}, T = {tl})"),
        t,
        floor,
        nt,
    );

    // ---- k3 KL with its gradient on 2^20 tokens ----
    let m = h.size(1 << 20, 64);
    let logp: Vec<f32> = (0..m).map(|_| -(rng.unit() as f32) * 4.0).collect();
    let refp: Vec<f32> = (0..m).map(|_| -(rng.unit() as f32) * 4.0).collect();
    let (mut v, mut gr) = (vec![0.0f32; m], vec![0.0f32; m]);
    let kl = KlPenalty::<f32>::new(KlEstimator::K3);
    let floor = h.copy_floor((8 * m + 8 * m) / 2);
    let t = h.time(|| kl.forward(&mut v, Some(&mut gr), &logp, &refp).expect("k3"));
    h.row(&format!("k3 value + gradient ({m} tokens)"), t, floor, m);
    let floor = h.copy_floor((8 * m + 4 * m) / 2);
    let t = h.time(|| kl.forward(&mut v, None, &logp, &refp).expect("k3"));
    h.row(&format!("k3 value only ({m} tokens)"), t, floor, m);
}
