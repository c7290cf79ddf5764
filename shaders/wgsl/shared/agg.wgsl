// Shared loss aggregation weights (one home for loss_parts.wgsl and rl_step.wgsl), computed on the
// device from the additive parts [sum, seq_mean_sum, tokens, seqs, rows].
//
// Aggregations (agg): 0 token-mean, 1 token-sum, 2 seq-mean-token-sum, 3 seq-mean-token-sum-norm
// (horizon), 4 seq-mean-token-mean (row divisor Lᵢ + len_eps), 5 TRL grpo (row-mean-token-mean),
// 6 row-mean-token-sum, 7 dr_grpo (row-mean-token-sum-norm).

// The aggregation's normalizer from the count parts.
fn agg_normalizer(agg: u32, tokens: f32, seqs: f32, rows: f32, horizon: f32) -> f32 {
    switch agg {
        case 1u: {
            return 1.0;
        }
        case 0u: {
            return tokens;
        }
        case 2u, 4u: {
            return seqs;
        }
        case 3u: {
            return seqs * horizon;
        }
        case 7u: {
            return rows * horizon;
        }
        default: {
            return rows;
        }
    }
}

// Whether the aggregation averages each row over its valid tokens first.
fn agg_uses_row_means(agg: u32) -> bool {
    return agg == 4u || agg == 5u;
}

// The divisor of a row with `len` valid tokens in the row-mean modes.
fn agg_row_divisor(agg: u32, len: f32, len_eps: f32) -> f32 {
    if (agg == 4u) {
        return len + len_eps;
    }
    return len;
}

// The gradient weight of a valid token of a row with `len` valid tokens: 1/normalizer, or
// 1/(divisor·normalizer) in the row-mean modes; 0 when that is not positive (no valid token).
fn agg_weight(agg: u32, norm: f32, len: f32, len_eps: f32) -> f32 {
    var d = norm;
    if (agg_uses_row_means(agg)) {
        d = agg_row_divisor(agg, len, len_eps) * norm;
    }
    if (d > 0.0) {
        return 1.0 / d;
    }
    return 0.0;
}
