"""PyTorch eager reference for the trainer's speed bar (not run in CI).

Implements the same GPT as `rewardkit_trainer::model` (token + position embeddings, pre-LayerNorm
blocks with causal multi-head attention and a tanh-GELU MLP, final LayerNorm, head tied to the token
embedding) at the default config, and measures in one process:
  - training tokens/s: forward + backward + AdamW on a (B, T) batch of random tokens with a
    next-token log-likelihood loss (what the GRPO step does per token);
  - sampling tokens/s: autoregressive generation with a key/value cache, B rows in parallel.

Usage (a venv with torch, outside the repo):
    python trainer/bench/torch_reference.py [--threads 2] [--b 256] [--t 32] [--steps 20]
Compare with `rewardkit bench` numbers from the same machine and the same session.
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c, nh):
        super().__init__()
        self.nh = nh
        self.ln_1 = nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c)
        self.fc = nn.Linear(c, 4 * c)
        self.fc_proj = nn.Linear(4 * c, c)

    def attn(self, x, cache=None):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        shape = lambda z: z.view(b, t, self.nh, c // self.nh).transpose(1, 2)
        q, k, v = shape(q), shape(k), shape(v)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
            y = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.fc_proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, v, max_t, l, nh, c):
        super().__init__()
        self.wte = nn.Embedding(v, c)
        self.wpe = nn.Embedding(max_t, c)
        self.h = nn.ModuleList([Block(c, nh) for _ in range(l)])
        self.ln_f = nn.LayerNorm(c)

    def forward(self, idx, pos0=0, caches=None):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(pos0, pos0 + t))
        for i, blk in enumerate(self.h):
            x = blk(x, None if caches is None else caches[i])
        return self.ln_f(x) @ self.wte.weight.T


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--b", type=int, default=256)
    p.add_argument("--t", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--vocab", type=int, default=18)
    p.add_argument("--max-t", type=int, default=40)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--embd", type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = Gpt(a.vocab, a.max_t, a.layers, a.heads, a.embd)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01)
    idx = torch.randint(0, a.vocab, (a.b, a.t))
    tgt = torch.randint(0, a.vocab, (a.b, a.t))

    def train_step():
        logits = m(idx)
        loss = -F.log_softmax(logits, -1).gather(-1, tgt.unsqueeze(-1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        train_step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        train_step()
    dt = time.perf_counter() - t0
    print(f"torch {torch.__version__}, {a.threads} threads, B={a.b} T={a.t} "
          f"L={a.layers} C={a.embd} NH={a.heads} V={a.vocab}")
    print(f"training: {a.b * a.t * a.steps / dt:.0f} tok/s (forward + backward + AdamW)")

    @torch.no_grad()
    def sample(n_new, prompt_len=8):
        caches = [dict() for _ in m.h]
        tok = torch.randint(0, a.vocab, (a.b, prompt_len))
        logits = m(tok, 0, caches)[:, -1]
        pos = prompt_len
        for _ in range(n_new):
            nxt = torch.multinomial(F.softmax(logits, -1), 1)
            logits = m(nxt, pos, caches)[:, -1]
            pos += 1

    sample(4)
    n_new = a.max_t - 8 - 1
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        sample(n_new)
    dt = time.perf_counter() - t0
    print(f"sampling: {a.b * n_new * reps / dt:.0f} tok/s (KV cache, {a.b} rows, {n_new} new tokens)")


if __name__ == "__main__":
    main()
