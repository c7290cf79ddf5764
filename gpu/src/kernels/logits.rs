//! logits
