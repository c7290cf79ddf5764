"""Python anchors for `cargo bench -p rewardkit-core --bench core_ops` (advantages).

Times the frameworks' own advantage code on the inputs the Rust bench uses: N = 2^20 float32
rewards in groups of K = 16 (values 0, 0.1, ..., 1), group ids shuffled (verl's balance_batch),
verl uids as `str(uuid.uuid4())` strings; GAE on B = T = 1024 with random prefix masks.

Not part of the test suite and not run in CI: it needs torch, numpy and verl (a venv with them, for
example `/work/venv` on the development machine). Run it on the same machine, in the same session,
as the Rust bench and compare times (both report the minimum over repetitions):

    /work/venv/bin/python core/benches/anchors/advantages.py          # full sizes
    /work/venv/bin/python core/benches/anchors/advantages.py --quick  # smoke run
    /work/venv/bin/python core/benches/anchors/advantages.py --threads 1

What is timed (each function is the framework's own, imported or copied verbatim):
- OpenRLHF RLOO (`openrlhf/trainer/ppo_utils/experience_maker.py`, `compute_advantages_and_returns`,
  `rloo` branch): `reshape(-1, n)`, `(sum - r) / (n - 1)`, `r - baseline`; torch's default threads.
- verl `compute_grpo_vectorized_outcome_advantage` with integer ids and with uid strings, and verl
  `as_torch_index` (its `np.unique` factorization of the uid strings) alone.
- verl `compute_gae_advantage_return` (a Python loop over T).
"""

import sys
import time
import uuid

import numpy as np
import torch

QUICK = "--quick" in sys.argv
REPS = 3 if QUICK else 7
if "--threads" in sys.argv:  # default: torch's (2 on the 2-vCPU development machine)
    torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))


def best(f, reps=REPS):
    f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return min(t)


def fmt(s):
    return f"{s * 1e3:9.3f} ms"


def main():
    from verl.trainer.ppo import core_algos
    from verl.utils.groupwise import as_torch_index

    n = (1 << 20) // (64 if QUICK else 1)
    k = 16
    g = n // k
    rng = np.random.default_rng(12345)
    rewards = (rng.integers(0, 11, n) * 0.1).astype(np.float32)
    ids = np.repeat(np.arange(g), k)
    rng.shuffle(ids)
    uids = np.array([str(uuid.uuid4()) for _ in range(g)], dtype=object)[ids]

    print(f"threads: torch {torch.get_num_threads()}; N = {n}, K = {k}, float32")
    src = np.ones(4 * n, dtype=np.uint8)
    dst = np.empty_like(src)
    floor = best(lambda: np.copyto(dst, src))
    label = f"numpy copy of the same bytes ({4 * n} B)"
    print(f"{label:<58}{fmt(floor)}")

    r = torch.from_numpy(rewards)

    def openrlhf_rloo():
        x = r.reshape(-1, k)
        baseline = (x.sum(-1, keepdim=True) - x) / (k - 1)
        return (x - baseline).flatten()

    t = best(openrlhf_rloo)
    print(f"{'OpenRLHF rloo (contiguous groups)':<58}{fmt(t)}")

    tok = r.reshape(-1, 1)
    mask = torch.ones_like(tok)

    def verl_grpo_vec(index):
        return core_algos.compute_grpo_vectorized_outcome_advantage(tok, mask, index)

    t = best(lambda: verl_grpo_vec(ids))
    print(f"{'verl grpo_vectorized, shuffled integer ids':<58}{fmt(t)}")
    t = best(lambda: as_torch_index(uids, device="cpu"), reps=max(1, REPS // 2))
    print(f"{'verl as_torch_index, uuid strings (np.unique)':<58}{fmt(t)}")
    t = best(lambda: verl_grpo_vec(uids), reps=max(1, REPS // 2))
    print(f"{'verl grpo_vectorized, uuid strings':<58}{fmt(t)}")

    b = tl = 1024 // (8 if QUICK else 1)
    lens = rng.integers(1, tl + 1, b)
    m = torch.from_numpy((np.arange(tl)[None, :] < lens[:, None]).astype(np.float32))
    tr = torch.from_numpy((rng.random((b, tl)) - 0.5).astype(np.float32))
    tv = torch.from_numpy(rng.random((b, tl)).astype(np.float32))

    def verl_gae():
        return core_algos.compute_gae_advantage_return(tr, tv, m, gamma=0.99, lam=0.95)

    t = best(verl_gae, reps=max(1, REPS // 2))
    print(f"{f'verl gae (B = {b}, T = {tl}, incl. masked_whiten)':<58}{fmt(t)}")


if __name__ == "__main__":
    main()
