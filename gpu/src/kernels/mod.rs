//! One module per kernel family: host-side validation, parameter blocks and dispatch.

pub(crate) mod advantage;
pub(crate) mod logits;
pub(crate) mod loss;
pub(crate) mod matmul;
pub(crate) mod returns;
pub(crate) mod step;
pub(crate) mod transformer;
pub(crate) mod whiten;

/// `[f32]` as bytes for a parameter block.
pub(crate) fn bytes<T: bytemuck::Pod>(p: &T) -> &[u8] {
    bytemuck::bytes_of(p)
}
