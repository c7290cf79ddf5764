// Shared indexing of llm.c's attention layout (one home for attention.wgsl and
// attention_backward.wgsl): qkv (B, T, 3C) holds per token [q | k | v], each C = NH·hs wide with
// head h at h·hs; the scores preatt/att are (B, NH, T, T). A "score row" r = (b·NH + h)·T + t.
// Needs the including file's uniform `p` with fields t, c, nh, hs.

struct Head {
    b: u32,
    h: u32,
    t: u32,
}

fn head_of(r: u32) -> Head {
    let t = r % p.t;
    let bh = r / p.t;
    return Head(bh / p.nh, bh % p.nh, t);
}

// Offset in qkv of token (b, s)'s query (part 0), key (1) or value (2) of head h.
fn qkv_at(b: u32, s: u32, h: u32, part: u32) -> u32 {
    return (b * p.t + s) * 3u * p.c + part * p.c + h * p.hs;
}

// Offset in out/dout (B, T, C) of token (b, s), head h.
fn out_at(b: u32, s: u32, h: u32) -> u32 {
    return (b * p.t + s) * p.c + h * p.hs;
}
