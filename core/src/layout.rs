//! Data layouts: [`GroupIndex`] (which samples form a group) and the `(B, T)` token view
//! ([`TokenShape`], [`Mask`]).
//!
//! # Groups
//! Group-based estimators (GRPO, RLOO, ...) need, for each prompt, the set of its sampled completions.
//! verl reorders batches before computing advantages (`balance_batch`), so groups need not be
//! contiguous; TRL and OpenRLHF use contiguous blocks of `K`. A [`GroupIndex`] is built once, in
//! `O(B + G)`, from dense group ids in any order and reused by every estimator. Three internal forms
//! are chosen automatically:
//! - *uniform*: rows `g·K .. (g+1)·K` form group `g` (the TRL/OpenRLHF layout; no index stored);
//! - *sorted*: ids are non-decreasing, groups are contiguous runs of any size (offsets only);
//! - *scattered*: any order (a counting sort stores, per group, its rows in ascending order).
//!
//! [`GroupIndex::layout`] exposes the form as plain `u32` slices ([`GroupLayout`]), and
//! [`GroupIndex::write_offsets`] / [`GroupIndex::write_ids`] / [`GroupIndex::write_rows`] fill
//! `u32` buffers in one CSR convention whatever the form, so a GPU backend can upload them.
//!
//! # Tokens
//! Per-token data is a row-major `(B, T)` slice with a boolean mask of the same shape (`true` = the
//! token counts). Per-sequence data is a `(B)` slice. [`Mask`] converts to and from `u32`/`f32`
//! buffers (`1`/`0`; WGSL has no boolean storage) and writes per-row lengths.

use core::ops::Range;

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::error::{Error, Result, ensure_len, ensure_nonempty};

// ---------------------------------------------------------------------------------------------
// Index storage: borrowed (no allocator needed) or owned.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Buf<'a> {
    Borrowed(&'a [u32]),
    #[cfg(feature = "alloc")]
    Owned(Vec<u32>),
}

impl Buf<'_> {
    #[inline(always)]
    fn as_slice(&self) -> &[u32] {
        match self {
            Buf::Borrowed(s) => s,
            #[cfg(feature = "alloc")]
            Buf::Owned(v) => v,
        }
    }
}

#[derive(Clone, Debug)]
enum Repr<'a> {
    /// Rows `g·size .. (g+1)·size` form group `g`.
    Uniform { size: usize },
    /// Rows `offsets[g] .. offsets[g+1]` form group `g`.
    Sorted { offsets: Buf<'a> },
    /// Group `g` holds rows `order[offsets[g] .. offsets[g+1]]`, ascending; `ids[i]` is row `i`'s group.
    Scattered {
        ids: Buf<'a>,
        offsets: Buf<'a>,
        order: Buf<'a>,
    },
}

/// Which samples belong to which group, built once from dense group ids.
///
/// # Definition
/// Row `i` (a sampled completion) belongs to group `ids[i] ∈ 0..G` (its prompt). Every group must be
/// non-empty. Row order is arbitrary; within a group, rows are visited in ascending order, which makes
/// every group reduction deterministic and independent of how the batch was shuffled.
///
/// # Shapes
/// `ids`: `(B)`; `B < 2³²`.
///
/// # Errors
/// [`Error::Empty`] for an empty batch, [`Error::GroupIdOutOfRange`] for an id `>= G`,
/// [`Error::EmptyGroup`] for an id in `0..G` that no row uses, [`Error::TooLarge`] when `B` does
/// not fit in `u32`.
///
/// # Examples
/// ```
/// use rewardkit_core::GroupIndex;
///
/// // verl-style shuffled batch: three prompts, rows in any order.
/// let groups = GroupIndex::new(&[2, 0, 1, 0, 2, 1], 3)?;
/// assert_eq!(groups.n_groups(), 3);
/// assert_eq!(groups.rows(0).collect::<Vec<_>>(), [1, 3]);
/// assert_eq!(groups.group_of(4), Some(2));
///
/// // TRL/OpenRLHF layout: contiguous blocks of K = 4, no index stored.
/// let blocks = GroupIndex::uniform(8, 4)?;
/// assert_eq!(blocks.uniform_size(), Some(4));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct GroupIndex<'a> {
    n_rows: usize,
    n_groups: usize,
    repr: Repr<'a>,
}

fn too_large(what: &'static str, len: usize) -> Result<()> {
    if len > u32::MAX as usize {
        Err(Error::TooLarge {
            what,
            len,
            max: u32::MAX as usize,
        })
    } else {
        Ok(())
    }
}

/// Counts group sizes into `counts[0..G]` (zeroed first) and validates ids.
fn count_ids(ids: &[u32], counts: &mut [u32]) -> Result<bool> {
    counts.iter_mut().for_each(|c| *c = 0);
    let n_groups = counts.len();
    let mut sorted = true;
    let mut prev = 0u32;
    for (row, &id) in ids.iter().enumerate() {
        match counts.get_mut(id as usize) {
            Some(c) => *c += 1,
            None => {
                return Err(Error::GroupIdOutOfRange { row, id, n_groups });
            }
        }
        sorted &= id >= prev;
        prev = id;
    }
    if let Some(group) = counts.iter().position(|&c| c == 0) {
        return Err(Error::EmptyGroup { group });
    }
    Ok(sorted)
}

/// Turns counts (in `buf[1..=G]`, with `buf[0] = 0`) into offsets in place:
/// `buf[g] = Σ_{h<g} count[h]` (an inclusive scan).
fn prefix_offsets(buf: &mut [u32]) {
    let mut acc = 0u32;
    for o in buf.iter_mut() {
        acc += *o;
        *o = acc;
    }
}

/// Returns `Some(size)` if the sorted groups all have the same size.
fn uniform_from_counts(offsets: &[u32]) -> Option<usize> {
    let mut it = offsets.windows(2).map(|w| match w {
        [a, b] => b - a,
        _ => 0,
    });
    let first = it.next()?;
    it.all(|s| s == first).then_some(first as usize)
}

impl GroupIndex<'static> {
    /// Contiguous blocks of `group_size` rows: rows `g·K .. (g+1)·K` form group `g` (TRL and
    /// OpenRLHF layout). Stores nothing and needs no allocator.
    ///
    /// # Errors
    /// [`Error::Empty`] if `n_rows == 0`; [`Error::InvalidParam`] if `group_size == 0`;
    /// [`Error::BadShape`] if `group_size` does not divide `n_rows`.
    ///
    /// # Examples
    /// ```
    /// let g = rewardkit_core::GroupIndex::uniform(6, 3)?;
    /// assert_eq!(g.n_groups(), 2);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn uniform(n_rows: usize, group_size: usize) -> Result<Self> {
        ensure_nonempty("rows", n_rows)?;
        too_large("rows", n_rows)?;
        if group_size == 0 {
            return Err(Error::InvalidParam {
                name: "group_size",
                value: 0.0,
                expected: "at least 1",
            });
        }
        if n_rows % group_size != 0 {
            return Err(Error::BadShape {
                what: "rows",
                len: n_rows,
                dim: group_size,
            });
        }
        Ok(GroupIndex {
            n_rows,
            n_groups: n_rows / group_size,
            repr: Repr::Uniform { size: group_size },
        })
    }

    /// Builds an index from dense group ids in any order (`ids[i] ∈ 0..n_groups`), in `O(B + G)`.
    ///
    /// # Errors
    /// See the type-level docs.
    ///
    /// # Examples
    /// ```
    /// let g = rewardkit_core::GroupIndex::new(&[1, 0, 1], 2)?;
    /// assert_eq!(g.group_size(1), Some(2));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    #[cfg(feature = "alloc")]
    pub fn new(ids: &[u32], n_groups: usize) -> Result<Self> {
        use alloc::vec;
        ensure_nonempty("group ids", ids.len())?;
        too_large("group ids", ids.len())?;
        too_large("groups", n_groups)?;
        let mut offsets = vec![0u32; n_groups + 1];
        let sorted = match offsets.get_mut(1..) {
            Some(counts) => count_ids(ids, counts)?,
            None => true,
        };
        prefix_offsets(&mut offsets);
        Ok(Self::from_offsets_owned(ids, n_groups, offsets, sorted))
    }

    #[cfg(feature = "alloc")]
    fn from_offsets_owned(ids: &[u32], n_groups: usize, offsets: Vec<u32>, sorted: bool) -> Self {
        use alloc::vec;
        let n_rows = ids.len();
        let repr = if sorted {
            match uniform_from_counts(&offsets) {
                Some(size) => Repr::Uniform { size },
                None => Repr::Sorted {
                    offsets: Buf::Owned(offsets),
                },
            }
        } else {
            let mut order = vec![0u32; n_rows];
            // A separate cursor table (G entries, cache-resident) instead of the in-place cursors
            // that `new_in` needs without an allocator: one random write per row, not three.
            let mut cursor: Vec<u32> = offsets.get(..n_groups).unwrap_or(&[]).to_vec();
            counting_sort(&mut order, &mut cursor, ids);
            Repr::Scattered {
                ids: Buf::Owned(ids.to_vec()),
                offsets: Buf::Owned(offsets),
                order: Buf::Owned(order),
            }
        };
        GroupIndex {
            n_rows,
            n_groups,
            repr,
        }
    }

    /// Builds an index from arbitrary labels (for example verl's uid strings): rows with equal labels
    /// form a group, and groups are numbered in order of first appearance.
    ///
    /// Labels are hashed ([`core::hash::Hash`], with a fixed, unseeded 64-bit hash) into an
    /// open-addressing table of group ids; equal hashes are confirmed with `==`, so distinct labels
    /// never merge. Expected `O(B)` (`O(B·G)` only for adversarial labels built to collide: the hash
    /// is not keyed, as `no_std` has no source of randomness). The table holds 8 bytes per slot
    /// and grows by doubling, so it is sized by `G`, not `B`.
    ///
    /// # Errors
    /// [`Error::Empty`] for no labels; [`Error::TooLarge`] beyond `u32::MAX` rows.
    ///
    /// # Examples
    /// ```
    /// let g = rewardkit_core::GroupIndex::from_labels(&["b", "a", "b"])?;
    /// assert_eq!(g.group_of(0), Some(0));
    /// assert_eq!(g.group_of(1), Some(1));
    /// assert_eq!(g.group_of(2), Some(0));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    #[cfg(feature = "alloc")]
    pub fn from_labels<L: core::hash::Hash + Eq>(labels: &[L]) -> Result<Self> {
        ensure_nonempty("labels", labels.len())?;
        too_large("labels", labels.len())?;
        let (ids, n_groups) = dense_ids(labels);
        Self::new(&ids, n_groups)
    }

    /// Builds an index from caller-hashed labels: rows with equal 64-bit hashes form a group,
    /// numbered in order of first appearance. The labels themselves are never touched, so this is
    /// the fast path for labels that are expensive to compare (verl's uid strings: hash each once,
    /// for example with [`label_hash`], and pass the hashes).
    ///
    /// Two distinct labels with the same hash merge into one group: with a good 64-bit hash the
    /// probability is about `G²/2⁶⁵` (`1e-10` for a million distinct labels);
    /// [`GroupIndex::from_labels`] confirms every match with `==` instead.
    ///
    /// # Errors
    /// [`Error::Empty`] for no hashes; [`Error::TooLarge`] beyond `u32::MAX` rows.
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{GroupIndex, layout::label_hash};
    /// let uids = ["9f0c…", "11ab…", "9f0c…"];
    /// let hashes: Vec<u64> = uids.iter().map(label_hash).collect();
    /// let g = GroupIndex::from_label_hashes(&hashes)?;
    /// assert_eq!((g.group_of(0), g.group_of(1), g.group_of(2)), (Some(0), Some(1), Some(0)));
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    #[cfg(feature = "alloc")]
    pub fn from_label_hashes(hashes: &[u64]) -> Result<Self> {
        ensure_nonempty("labels", hashes.len())?;
        too_large("labels", hashes.len())?;
        let (ids, n_groups) = dense_hash_ids(hashes);
        Self::new(&ids, n_groups)
    }
}

/// The 64-bit hash [`GroupIndex::from_labels`] uses (fixed and unseeded, the same on every run and
/// machine of the same endianness), for [`GroupIndex::from_label_hashes`].
///
/// # Examples
/// ```
/// use rewardkit_core::layout::label_hash;
/// assert_eq!(label_hash(&"uid-1"), label_hash(&String::from("uid-1")));
/// assert_ne!(label_hash(&"uid-1"), label_hash(&"uid-2"));
/// ```
#[cfg(feature = "alloc")]
pub fn label_hash<L: core::hash::Hash + ?Sized>(label: &L) -> u64 {
    use core::hash::Hasher;
    let mut h = LabelHasher::default();
    label.hash(&mut h);
    h.finish()
}

/// Maps 64-bit hashes to dense ids in order of first appearance (open addressing, linear probing,
/// Fibonacci placement; the table doubles when half full).
#[cfg(feature = "alloc")]
#[expect(
    clippy::cast_possible_truncation,
    reason = "hashes.len() <= u32::MAX is checked by the caller; the slot index is masked"
)]
fn dense_hash_ids(hashes: &[u64]) -> (Vec<u32>, usize) {
    use alloc::vec;
    const EMPTY: u32 = u32::MAX;
    const PHI: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bits = 10u32;
    let mut keys = vec![0u64; 1 << bits];
    let mut vals = vec![EMPTY; 1 << bits];
    let mut n_groups = 0u32;
    let mut ids = Vec::with_capacity(hashes.len());
    let slot = |h: u64, bits: u32| (h.wrapping_mul(PHI) >> (64 - bits)) as usize;
    for &h in hashes {
        let mask = (1usize << bits) - 1;
        let mut i = slot(h, bits);
        let id = loop {
            match vals.get(i).copied() {
                Some(EMPTY) | None => {
                    if let (Some(k), Some(v)) = (keys.get_mut(i), vals.get_mut(i)) {
                        *k = h;
                        *v = n_groups;
                    }
                    n_groups += 1;
                    break n_groups - 1;
                }
                Some(v) if keys.get(i) == Some(&h) => break v,
                Some(_) => i = (i + 1) & mask,
            }
        };
        ids.push(id);
        if 2 * n_groups as usize > vals.len() {
            bits += 1;
            let (mut k2, mut v2) = (vec![0u64; 1 << bits], vec![EMPTY; 1 << bits]);
            let m2 = (1usize << bits) - 1;
            for (&k, &v) in keys.iter().zip(&vals).filter(|&(_, &v)| v != EMPTY) {
                let mut j = slot(k, bits);
                while v2.get(j).is_some_and(|&x| x != EMPTY) {
                    j = (j + 1) & m2;
                }
                if let (Some(a), Some(b)) = (k2.get_mut(j), v2.get_mut(j)) {
                    *a = k;
                    *b = v;
                }
            }
            keys = k2;
            vals = v2;
        }
    }
    (ids, n_groups as usize)
}

/// A fast, fixed 64-bit hash (`FxHash`'s word step, then the `fmix64` finalizer of `MurmurHash3` so
/// every bit of the result depends on every input bit). Not keyed: fine for labels produced by a
/// trainer, not for adversarial input.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default)]
struct LabelHasher(u64);

#[cfg(feature = "alloc")]
impl LabelHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    #[inline(always)]
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }
}

#[cfg(feature = "alloc")]
impl core::hash::Hasher for LabelHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(dst) = w.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            // The length tag keeps "a" and "a\0" apart.
            self.word(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.word(i);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.word(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.word(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Maps labels to dense ids in order of first appearance; returns the ids and `G`.
///
/// Open addressing with linear probing: a slot holds `hash32 << 32 | (id + 1)` (0 = empty), the
/// 32-bit hash both places the slot and filters candidates before the `==` check; the table doubles
/// when half full, re-placing entries from their stored hashes.
#[cfg(feature = "alloc")]
#[expect(
    clippy::cast_possible_truncation,
    reason = "labels.len() <= u32::MAX is checked by the caller; hash32 is the high half of a u64"
)]
fn dense_ids<L: core::hash::Hash + Eq>(labels: &[L]) -> (Vec<u32>, usize) {
    use alloc::vec;
    use core::hash::Hasher;
    let mut slots = vec![0u64; 1024];
    let mut mask = slots.len() - 1;
    let mut first: Vec<&L> = Vec::new(); // group id -> its first label
    let mut ids = Vec::with_capacity(labels.len());
    for label in labels {
        let mut h = LabelHasher::default();
        label.hash(&mut h);
        let hash32 = (h.finish() >> 32) as u32;
        let mut i = hash32 as usize & mask;
        let id = loop {
            let e = slots.get(i).copied().unwrap_or(0);
            if e == 0 {
                let id = first.len() as u32;
                first.push(label);
                if let Some(s) = slots.get_mut(i) {
                    *s = (u64::from(hash32) << 32) | u64::from(id + 1);
                }
                break id;
            }
            if (e >> 32) as u32 == hash32 {
                let id = (e as u32).wrapping_sub(1);
                let same = first.get(id as usize).is_some_and(|&l| l == label);
                if same {
                    break id;
                }
            }
            i = (i + 1) & mask;
        };
        ids.push(id);
        if 2 * first.len() > slots.len() {
            // Grow: re-place every entry by its stored hash.
            let mut bigger = vec![0u64; 2 * slots.len()];
            let m = bigger.len() - 1;
            for &e in slots.iter().filter(|&&e| e != 0) {
                let mut j = (e >> 32) as usize & m;
                while bigger.get(j).is_some_and(|&x| x != 0) {
                    j = (j + 1) & m;
                }
                if let Some(s) = bigger.get_mut(j) {
                    *s = e;
                }
            }
            slots = bigger;
            mask = m;
        }
    }
    let n_groups = first.len();
    (ids, n_groups)
}

impl<'a> GroupIndex<'a> {
    /// Builds an index without an allocator, in caller-provided buffers: `offsets` must hold
    /// `n_groups + 1` entries and `order` `ids.len()` entries. The index borrows all three.
    ///
    /// # Errors
    /// As [`GroupIndex::new`], plus [`Error::LengthMismatch`] for wrongly sized buffers.
    ///
    /// # Examples
    /// ```
    /// let ids = [1u32, 0, 1, 0];
    /// let (mut offsets, mut order) = ([0u32; 3], [0u32; 4]);
    /// let g = rewardkit_core::GroupIndex::new_in(&ids, 2, &mut offsets, &mut order)?;
    /// assert_eq!(g.rows(1).collect::<Vec<_>>(), [0, 2]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn new_in(
        ids: &'a [u32],
        n_groups: usize,
        offsets: &'a mut [u32],
        order: &'a mut [u32],
    ) -> Result<Self> {
        ensure_nonempty("group ids", ids.len())?;
        too_large("group ids", ids.len())?;
        too_large("groups", n_groups)?;
        ensure_len("offsets", n_groups + 1, offsets.len())?;
        ensure_len("order", ids.len(), order.len())?;
        if let Some(first) = offsets.first_mut() {
            *first = 0;
        }
        let sorted = match offsets.get_mut(1..) {
            Some(counts) => count_ids(ids, counts)?,
            None => true,
        };
        prefix_offsets(offsets);
        let n_rows = ids.len();
        let repr = if sorted {
            match uniform_from_counts(offsets) {
                Some(size) => Repr::Uniform { size },
                None => Repr::Sorted {
                    offsets: Buf::Borrowed(offsets),
                },
            }
        } else {
            // No cursor buffer is available without an allocator: the sort keeps each group's
            // cursor in the group's own last slot of `order` (see `counting_sort_in_place`).
            let offsets_ro: &'a [u32] = offsets;
            counting_sort_in_place(order, ids, offsets_ro);
            Repr::Scattered {
                ids: Buf::Borrowed(ids),
                offsets: Buf::Borrowed(offsets_ro),
                order: Buf::Borrowed(order),
            }
        };
        Ok(GroupIndex {
            n_rows,
            n_groups,
            repr,
        })
    }

    /// Number of rows `B`.
    #[inline]
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of groups `G`.
    #[inline]
    pub fn n_groups(&self) -> usize {
        self.n_groups
    }

    /// `Some(K)` when every group is a contiguous block of `K` rows in order (the fast path).
    #[inline]
    pub fn uniform_size(&self) -> Option<usize> {
        match self.repr {
            Repr::Uniform { size } => Some(size),
            _ => None,
        }
    }

    /// `true` when every group is a contiguous run of rows (uniform or sorted layout).
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        !matches!(self.repr, Repr::Scattered { .. })
    }

    /// Size of group `g`, or `None` if `g >= G`.
    pub fn group_size(&self, g: usize) -> Option<usize> {
        if g >= self.n_groups {
            return None;
        }
        match &self.repr {
            Repr::Uniform { size } => Some(*size),
            Repr::Sorted { offsets } | Repr::Scattered { offsets, .. } => {
                let o = offsets.as_slice();
                Some((*o.get(g + 1)? - *o.get(g)?) as usize)
            }
        }
    }

    /// The group of row `i`, or `None` if `i >= B`. `O(1)`, except `O(log G)` for the sorted layout.
    pub fn group_of(&self, i: usize) -> Option<usize> {
        if i >= self.n_rows {
            return None;
        }
        match &self.repr {
            Repr::Uniform { size } => Some(i / size),
            Repr::Sorted { offsets } => {
                let o = offsets.as_slice();
                // Last g with offsets[g] <= i.
                Some(o.partition_point(|&x| x as usize <= i).saturating_sub(1))
            }
            Repr::Scattered { ids, .. } => ids.as_slice().get(i).map(|&g| g as usize),
        }
    }

    /// The rows of group `g` in ascending order (empty if `g >= G`).
    pub fn rows(&self, g: usize) -> GroupRowsIter<'_> {
        match self.segment(g) {
            Some(Segment::Span(s)) => GroupRowsIter::Span(s.range()),
            Some(Segment::Gather(rows)) => GroupRowsIter::Gather(rows.0.iter()),
            None => GroupRowsIter::Span(0..0),
        }
    }

    /// The rows of group `g` as a [`Segment`], or `None` if `g >= G`.
    pub fn segment(&self, g: usize) -> Option<Segment<'_>> {
        if g >= self.n_groups {
            return None;
        }
        Some(match &self.repr {
            Repr::Uniform { size } => Segment::Span(Span {
                start: g * size,
                end: (g + 1) * size,
            }),
            Repr::Sorted { offsets } => {
                let o = offsets.as_slice();
                Segment::Span(Span {
                    start: *o.get(g)? as usize,
                    end: *o.get(g + 1)? as usize,
                })
            }
            Repr::Scattered { offsets, order, .. } => {
                let o = offsets.as_slice();
                let (a, b) = (*o.get(g)? as usize, *o.get(g + 1)? as usize);
                Segment::Gather(Gather(order.as_slice().get(a..b)?))
            }
        })
    }

    /// Calls `visitor.visit(g, rows)` for every group `g` in order; `rows` is a [`Span`] for the
    /// contiguous layouts and a [`Gather`] for the scattered one, so one generic visitor compiles
    /// into a slice loop and a gather loop. Stops at the first error.
    pub fn visit<V: GroupVisitor>(&self, visitor: &mut V) -> Result<()> {
        match &self.repr {
            Repr::Uniform { size } => {
                let mut start = 0;
                for g in 0..self.n_groups {
                    let end = start + size;
                    visitor.visit(g, Span { start, end })?;
                    start = end;
                }
            }
            Repr::Sorted { offsets } => {
                for (g, w) in offsets.as_slice().windows(2).enumerate() {
                    if let [a, b] = *w {
                        visitor.visit(
                            g,
                            Span {
                                start: a as usize,
                                end: b as usize,
                            },
                        )?;
                    }
                }
            }
            Repr::Scattered { offsets, order, .. } => {
                let order = order.as_slice();
                for (g, w) in offsets.as_slice().windows(2).enumerate() {
                    if let [a, b] = *w {
                        let rows = order.get(a as usize..b as usize).unwrap_or(&[]);
                        visitor.visit(g, Gather(rows))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The index's form as plain `u32` slices (what a GPU backend uploads): uniform blocks, a
    /// contiguous CSR form (`offsets`), or a scattered CSR form (`offsets` into a permutation `rows`,
    /// plus each row's group id).
    ///
    /// # Examples
    /// ```
    /// use rewardkit_core::{GroupIndex, layout::GroupLayout};
    /// let g = GroupIndex::new(&[1, 0, 1, 0, 1], 2)?;
    /// match g.layout() {
    ///     GroupLayout::Scattered { ids, offsets, rows } => {
    ///         assert_eq!(ids, [1, 0, 1, 0, 1]);
    ///         assert_eq!(offsets, [0, 2, 5]);
    ///         assert_eq!(rows, [1, 3, 0, 2, 4]); // group 0: rows 1, 3; group 1: rows 0, 2, 4
    ///     }
    ///     other => unreachable!("{other:?}"),
    /// }
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn layout(&self) -> GroupLayout<'_> {
        match &self.repr {
            Repr::Uniform { size } => GroupLayout::Uniform { size: *size },
            Repr::Sorted { offsets } => GroupLayout::Contiguous {
                offsets: offsets.as_slice(),
            },
            Repr::Scattered {
                ids,
                offsets,
                order,
            } => GroupLayout::Scattered {
                ids: ids.as_slice(),
                offsets: offsets.as_slice(),
                rows: order.as_slice(),
            },
        }
    }

    /// Writes the CSR offsets of every layout: group `g` holds positions `out[g] .. out[g+1]` of
    /// [`GroupIndex::write_rows`]'s permutation (of the rows themselves when contiguous).
    ///
    /// # Shapes
    /// `out`: `(G + 1)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len() != G + 1`.
    ///
    /// # Examples
    /// ```
    /// let g = rewardkit_core::GroupIndex::uniform(6, 3)?;
    /// let mut off = [0u32; 3];
    /// g.write_offsets(&mut off)?;
    /// assert_eq!(off, [0, 3, 6]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn write_offsets(&self, out: &mut [u32]) -> Result<()> {
        ensure_len("offsets", self.n_groups + 1, out.len())?;
        match self.layout() {
            GroupLayout::Uniform { size } => {
                let mut acc = 0usize;
                for o in out.iter_mut() {
                    *o = u32::try_from(acc).unwrap_or(u32::MAX);
                    acc += size;
                }
            }
            GroupLayout::Contiguous { offsets } | GroupLayout::Scattered { offsets, .. } => {
                out.copy_from_slice(offsets);
            }
        }
        Ok(())
    }

    /// Writes the rows in group order (ascending within each group): the identity for contiguous
    /// layouts.
    ///
    /// # Shapes
    /// `out`: `(B)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len() != B`.
    ///
    /// # Examples
    /// ```
    /// let g = rewardkit_core::GroupIndex::new(&[1, 0, 1], 2)?;
    /// let mut rows = [0u32; 3];
    /// g.write_rows(&mut rows)?;
    /// assert_eq!(rows, [1, 0, 2]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn write_rows(&self, out: &mut [u32]) -> Result<()> {
        ensure_len("rows", self.n_rows, out.len())?;
        match self.layout() {
            GroupLayout::Scattered { rows, .. } => out.copy_from_slice(rows),
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = u32::try_from(i).unwrap_or(u32::MAX);
                }
            }
        }
        Ok(())
    }

    /// Writes each row's group id.
    ///
    /// # Shapes
    /// `out`: `(B)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len() != B`.
    ///
    /// # Examples
    /// ```
    /// let g = rewardkit_core::GroupIndex::uniform(4, 2)?;
    /// let mut ids = [9u32; 4];
    /// g.write_ids(&mut ids)?;
    /// assert_eq!(ids, [0, 0, 1, 1]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn write_ids(&self, out: &mut [u32]) -> Result<()> {
        ensure_len("ids", self.n_rows, out.len())?;
        match self.layout() {
            GroupLayout::Uniform { size } => {
                for (g, chunk) in out.chunks_mut(size.max(1)).enumerate() {
                    chunk.fill(u32::try_from(g).unwrap_or(u32::MAX));
                }
            }
            GroupLayout::Contiguous { offsets } => {
                for (g, w) in offsets.windows(2).enumerate() {
                    if let (&[a, b], Ok(id)) = (w, u32::try_from(g)) {
                        if let Some(chunk) = out.get_mut(a as usize..b as usize) {
                            chunk.fill(id);
                        }
                    }
                }
            }
            GroupLayout::Scattered { ids, .. } => out.copy_from_slice(ids),
        }
        Ok(())
    }

    /// Checks that a per-row input has `B` elements.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] naming `what`.
    #[inline]
    pub fn check_rows(&self, what: &'static str, len: usize) -> Result<()> {
        ensure_len(what, self.n_rows, len)
    }
}

/// Stable counting sort of rows by group into `order`, with `cursor[g]` the next free slot of
/// group `g` (initialized to its offset). `O(B)`; rows end up ascending within each group.
#[cfg(feature = "alloc")]
#[expect(
    clippy::cast_possible_truncation,
    reason = "row indices are < B <= u32::MAX, checked by the constructors"
)]
fn counting_sort(order: &mut [u32], cursor: &mut [u32], ids: &[u32]) {
    for (row, &id) in ids.iter().enumerate() {
        if let Some(c) = cursor.get_mut(id as usize) {
            if let Some(slot) = order.get_mut(*c as usize) {
                *slot = row as u32;
            }
            *c += 1;
        }
    }
}

/// Stable counting sort of rows by group into `order`, without scratch memory.
///
/// Group `g` owns slots `offsets[g] .. offsets[g+1]` of `order`. Until the group is complete, its
/// last slot holds the group's cursor (the next free slot); the group's final row then overwrites the
/// cursor. `O(B + G)`; rows end up ascending within each group.
#[expect(
    clippy::cast_possible_truncation,
    reason = "row indices are < B <= u32::MAX, checked by the constructors"
)]
fn counting_sort_in_place(order: &mut [u32], ids: &[u32], offsets: &[u32]) {
    for w in offsets.windows(2) {
        if let [a, b] = *w {
            if let Some(slot) = (b as usize).checked_sub(1).and_then(|i| order.get_mut(i)) {
                *slot = a; // cursor for the group: next free position
            }
        }
    }
    for (row, &id) in ids.iter().enumerate() {
        let g = id as usize;
        let (Some(&end), Some(_)) = (offsets.get(g + 1), offsets.get(g)) else {
            continue;
        };
        let Some(last) = (end as usize).checked_sub(1) else {
            continue;
        };
        let cursor = match order.get(last) {
            Some(&c) => c as usize,
            None => continue,
        };
        if cursor == last {
            // The final row of the group overwrites its own cursor slot.
            if let Some(slot) = order.get_mut(last) {
                *slot = row as u32;
            }
        } else {
            if let Some(slot) = order.get_mut(cursor) {
                *slot = row as u32;
            }
            if let Some(slot) = order.get_mut(last) {
                *slot = (cursor + 1) as u32;
            }
        }
    }
}

/// The rows of one group: a contiguous [`Span`] or an index list ([`Gather`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Rows `start..end`.
    Span(Span),
    /// Rows listed by index, ascending.
    Gather(Gather<'a>),
}

/// A contiguous run of rows `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First row.
    pub start: usize,
    /// One past the last row.
    pub end: usize,
}

impl Span {
    /// The rows as a range.
    #[inline(always)]
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// Rows listed by index (ascending within the group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gather<'a>(pub &'a [u32]);

/// The form of a [`GroupIndex`], as `u32` slices ([`GroupIndex::layout`]).
///
/// Every form lists each group's rows in ascending order; group `g` is non-empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupLayout<'a> {
    /// Rows `g·size .. (g+1)·size` form group `g` (nothing stored).
    Uniform {
        /// Rows per group `K`.
        size: usize,
    },
    /// Rows `offsets[g] .. offsets[g+1]` form group `g`.
    Contiguous {
        /// `(G + 1)` offsets from 0 to `B`.
        offsets: &'a [u32],
    },
    /// Group `g` holds rows `rows[offsets[g] .. offsets[g+1]]` (a CSR form).
    Scattered {
        /// `(B)`: each row's group id.
        ids: &'a [u32],
        /// `(G + 1)` offsets from 0 to `B` into `rows`.
        offsets: &'a [u32],
        /// `(B)`: the rows in group order, ascending within each group.
        rows: &'a [u32],
    },
}

/// Iterator over the rows of one group, from [`GroupIndex::rows`].
#[derive(Clone, Debug)]
pub enum GroupRowsIter<'a> {
    /// Contiguous rows.
    Span(Range<usize>),
    /// Gathered rows.
    Gather(core::slice::Iter<'a, u32>),
}

impl Iterator for GroupRowsIter<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        match self {
            GroupRowsIter::Span(r) => r.next(),
            GroupRowsIter::Gather(it) => it.next().map(|&i| i as usize),
        }
    }
}

/// The rows of one group, as seen by a [`GroupVisitor`]: implemented by [`Span`] (a slice loop) and
/// [`Gather`] (an index loop). Row indices are always `< B`, and per-row inputs are checked to have
/// `B` elements before a visit, so the accessors never fail for checked inputs; an out-of-range row
/// (an unchecked input) reads as missing and is skipped.
pub trait GroupRows: Copy {
    /// Number of rows in the group.
    fn len(self) -> usize;

    /// `true` if the group has no rows (never for a validated [`GroupIndex`]).
    fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The group's values of a per-row input, in ascending row order.
    fn values<T: Copy>(self, xs: &[T]) -> impl Iterator<Item = T> + Clone;

    /// The group's row indices, ascending.
    fn rows(self) -> impl Iterator<Item = usize> + Clone;

    /// For each row `i` of the group, `out[i] = f(xs[i])`.
    fn map<T: Copy, U>(self, out: &mut [U], xs: &[T], f: impl FnMut(T) -> U);

    /// For each row `i` of the group, in ascending order, `out[i] = f(i)`.
    fn fill<U>(self, out: &mut [U], f: impl FnMut(usize) -> U);
}

impl GroupRows for Span {
    #[inline(always)]
    fn len(self) -> usize {
        self.end - self.start
    }

    #[inline(always)]
    fn values<T: Copy>(self, xs: &[T]) -> impl Iterator<Item = T> + Clone {
        xs.get(self.range()).unwrap_or(&[]).iter().copied()
    }

    #[inline(always)]
    fn rows(self) -> impl Iterator<Item = usize> + Clone {
        self.range()
    }

    #[inline(always)]
    fn map<T: Copy, U>(self, out: &mut [U], xs: &[T], mut f: impl FnMut(T) -> U) {
        if let (Some(o), Some(x)) = (out.get_mut(self.range()), xs.get(self.range())) {
            for (o, &x) in o.iter_mut().zip(x) {
                *o = f(x);
            }
        }
    }

    #[inline(always)]
    fn fill<U>(self, out: &mut [U], mut f: impl FnMut(usize) -> U) {
        if let Some(o) = out.get_mut(self.range()) {
            for (o, i) in o.iter_mut().zip(self.range()) {
                *o = f(i);
            }
        }
    }
}

impl GroupRows for Gather<'_> {
    #[inline(always)]
    fn len(self) -> usize {
        self.0.len()
    }

    #[inline(always)]
    fn values<T: Copy>(self, xs: &[T]) -> impl Iterator<Item = T> + Clone {
        self.0
            .iter()
            .filter_map(move |&i| xs.get(i as usize).copied())
    }

    #[inline(always)]
    fn rows(self) -> impl Iterator<Item = usize> + Clone {
        self.0.iter().map(|&i| i as usize)
    }

    #[inline(always)]
    fn map<T: Copy, U>(self, out: &mut [U], xs: &[T], mut f: impl FnMut(T) -> U) {
        for &i in self.0 {
            if let (Some(o), Some(&x)) = (out.get_mut(i as usize), xs.get(i as usize)) {
                *o = f(x);
            }
        }
    }

    #[inline(always)]
    fn fill<U>(self, out: &mut [U], mut f: impl FnMut(usize) -> U) {
        for &i in self.0 {
            if let Some(o) = out.get_mut(i as usize) {
                *o = f(i as usize);
            }
        }
    }
}

/// A per-group computation driven by [`GroupIndex::visit`]. Implement it to write a custom group
/// estimator that runs on every layout with the same code.
///
/// # Examples
/// ```
/// use rewardkit_core::{GroupIndex, GroupRows, GroupVisitor, Result};
///
/// /// Writes each row's group maximum.
/// struct GroupMax<'a> { x: &'a [f64], out: &'a mut [f64] }
/// impl GroupVisitor for GroupMax<'_> {
///     fn visit<R: GroupRows>(&mut self, _g: usize, rows: R) -> Result<()> {
///         let m = rows.values(self.x).fold(f64::NEG_INFINITY, f64::max);
///         rows.fill(self.out, |_| m);
///         Ok(())
///     }
/// }
/// let groups = GroupIndex::new(&[0, 1, 0, 1], 2)?;
/// let mut out = [0.0; 4];
/// groups.visit(&mut GroupMax { x: &[1.0, 5.0, 3.0, 2.0], out: &mut out })?;
/// assert_eq!(out, [3.0, 5.0, 3.0, 5.0]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub trait GroupVisitor {
    /// Called once per group, in group order.
    ///
    /// # Errors
    /// Whatever the computation reports; the first error stops the visit.
    fn visit<R: GroupRows>(&mut self, group: usize, rows: R) -> Result<()>;
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// The shape `(B, T)` of row-major per-token data: `B` sequences of `T` (padded) tokens.
///
/// # Errors
/// [`TokenShape::new`] rejects a zero dimension ([`Error::BadShape`]) and a product that overflows
/// ([`Error::TooLarge`]).
///
/// # Examples
/// ```
/// let s = rewardkit_core::TokenShape::new(2, 3)?;
/// assert_eq!(s.len(), 6);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TokenShape {
    batch: usize,
    seq_len: usize,
}

impl TokenShape {
    /// A `(batch, seq_len)` shape; both must be at least 1.
    ///
    /// # Errors
    /// See the type-level docs.
    pub fn new(batch: usize, seq_len: usize) -> Result<Self> {
        if batch == 0 || seq_len == 0 {
            return Err(Error::BadShape {
                what: "token shape",
                len: batch.saturating_mul(seq_len),
                dim: if batch == 0 { batch } else { seq_len },
            });
        }
        match batch.checked_mul(seq_len) {
            Some(_) => Ok(Self { batch, seq_len }),
            None => Err(Error::TooLarge {
                what: "token shape",
                len: usize::MAX,
                max: usize::MAX,
            }),
        }
    }

    /// Infers `B` from a flat length and `T`.
    ///
    /// # Errors
    /// [`Error::Empty`] for `len == 0`; [`Error::BadShape`] if `T == 0` or `T` does not divide `len`.
    pub fn from_len(what: &'static str, len: usize, seq_len: usize) -> Result<Self> {
        ensure_nonempty(what, len)?;
        if seq_len == 0 || len % seq_len != 0 {
            return Err(Error::BadShape {
                what,
                len,
                dim: seq_len,
            });
        }
        Self::new(len / seq_len, seq_len)
    }

    /// `B`, the number of sequences.
    #[inline]
    pub fn batch(self) -> usize {
        self.batch
    }

    /// `T`, the padded number of tokens per sequence.
    #[inline]
    pub fn seq_len(self) -> usize {
        self.seq_len
    }

    /// `B·T`.
    #[inline]
    #[expect(clippy::len_without_is_empty, reason = "a TokenShape is never empty")]
    pub fn len(self) -> usize {
        self.batch * self.seq_len
    }

    /// Checks that a flat per-token buffer has `B·T` elements.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] naming `what`.
    #[inline]
    pub fn check(self, what: &'static str, len: usize) -> Result<()> {
        ensure_len(what, self.len(), len)
    }

    /// Checks that a per-sequence buffer has `B` elements.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] naming `what`.
    #[inline]
    pub fn check_batch(self, what: &'static str, len: usize) -> Result<()> {
        ensure_len(what, self.batch, len)
    }
}

/// A validated `(B, T)` boolean token mask: `true` marks a token that counts (verl's
/// `response_mask`, OpenRLHF's `action_mask`).
///
/// # Examples
/// ```
/// use rewardkit_core::Mask;
///
/// let bits = [true, true, false, true, false, false];
/// let mask = Mask::new(&bits, 3)?; // B = 2, T = 3
/// assert_eq!(mask.count(), 3);
/// assert_eq!(mask.row_len(0), Some(2));
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mask<'a> {
    bits: &'a [bool],
    shape: TokenShape,
}

impl<'a> Mask<'a> {
    /// Views `bits` as a `(B, T)` mask with `B = bits.len() / T`.
    ///
    /// # Errors
    /// [`Error::Empty`] for no bits; [`Error::BadShape`] if `T == 0` or `T` does not divide the length.
    pub fn new(bits: &'a [bool], seq_len: usize) -> Result<Self> {
        let shape = TokenShape::from_len("mask", bits.len(), seq_len)?;
        Ok(Self { bits, shape })
    }

    /// Views `bits` with an explicit shape.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `bits.len() != B·T`.
    pub fn with_shape(bits: &'a [bool], shape: TokenShape) -> Result<Self> {
        shape.check("mask", bits.len())?;
        Ok(Self { bits, shape })
    }

    /// The shape `(B, T)`.
    #[inline]
    pub fn shape(self) -> TokenShape {
        self.shape
    }

    /// The flat bits.
    #[inline]
    pub fn bits(self) -> &'a [bool] {
        self.bits
    }

    /// The rows, each of length `T`.
    #[inline]
    pub fn rows(self) -> core::slice::ChunksExact<'a, bool> {
        self.bits.chunks_exact(self.shape.seq_len)
    }

    /// Row `i`, or `None` if `i >= B`.
    #[inline]
    pub fn row(self, i: usize) -> Option<&'a [bool]> {
        let t = self.shape.seq_len;
        self.bits.get(i * t..(i + 1) * t)
    }

    /// Number of `true` bits in row `i` (the sequence's length `Lᵢ`), or `None` if `i >= B`.
    #[inline]
    pub fn row_len(self, i: usize) -> Option<usize> {
        self.row(i).map(count_true)
    }

    /// Total number of `true` bits.
    #[inline]
    pub fn count(self) -> usize {
        count_true(self.bits)
    }

    /// Writes each row's length `Lᵢ` into `out` (`(B)`).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len() != B`.
    pub fn row_lens(self, out: &mut [usize]) -> Result<()> {
        self.shape.check_batch("out", out.len())?;
        for (o, row) in out.iter_mut().zip(self.rows()) {
            *o = count_true(row);
        }
        Ok(())
    }

    /// Writes each row's length `Lᵢ` as `u32` (a GPU buffer).
    ///
    /// # Shapes
    /// `out`: `(B)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len() != B`; [`Error::TooLarge`] if `T > u32::MAX`.
    ///
    /// # Examples
    /// ```
    /// let m = rewardkit_core::Mask::new(&[true, false, true, true], 2)?;
    /// let mut lens = [0u32; 2];
    /// m.row_lens_u32(&mut lens)?;
    /// assert_eq!(lens, [1, 2]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn row_lens_u32(self, out: &mut [u32]) -> Result<()> {
        self.shape.check_batch("out", out.len())?;
        too_large("mask rows", self.shape.seq_len)?;
        for (o, row) in out.iter_mut().zip(self.rows()) {
            *o = u32::try_from(count_true(row)).unwrap_or(u32::MAX);
        }
        Ok(())
    }

    /// Writes the mask as `u32` (`1` = the token counts, `0` = masked): WGSL has no boolean storage.
    ///
    /// # Shapes
    /// `out`: `(B, T)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len() != B·T`.
    ///
    /// # Examples
    /// ```
    /// let m = rewardkit_core::Mask::new(&[true, false], 2)?;
    /// let mut buf = [7u32; 2];
    /// m.write_u32(&mut buf)?;
    /// assert_eq!(buf, [1, 0]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn write_u32(self, out: &mut [u32]) -> Result<()> {
        self.shape.check("out", out.len())?;
        for (o, &b) in out.iter_mut().zip(self.bits) {
            *o = u32::from(b);
        }
        Ok(())
    }

    /// Writes the mask as `f32` (`1.0` / `0.0`, torch's float masks).
    ///
    /// # Shapes
    /// `out`: `(B, T)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len() != B·T`.
    ///
    /// # Examples
    /// ```
    /// let m = rewardkit_core::Mask::new(&[false, true], 2)?;
    /// let mut buf = [7.0f32; 2];
    /// m.write_f32(&mut buf)?;
    /// assert_eq!(buf, [0.0, 1.0]);
    /// # Ok::<(), rewardkit_core::Error>(())
    /// ```
    pub fn write_f32(self, out: &mut [f32]) -> Result<()> {
        self.shape.check("out", out.len())?;
        for (o, &b) in out.iter_mut().zip(self.bits) {
            *o = if b { 1.0 } else { 0.0 };
        }
        Ok(())
    }
}

/// Reads a `u32` mask buffer into booleans (`true` for any non-zero value); view the result with
/// [`Mask::new`].
///
/// # Shapes
/// `out`, `x`: `(B, T)`.
///
/// # Errors
/// [`Error::LengthMismatch`] if the lengths differ.
///
/// # Examples
/// ```
/// use rewardkit_core::{Mask, layout::mask_bits_from_u32};
/// let mut bits = [false; 4];
/// mask_bits_from_u32(&mut bits, &[1, 1, 0, 3])?;
/// assert_eq!(Mask::new(&bits, 2)?.count(), 3);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn mask_bits_from_u32(out: &mut [bool], x: &[u32]) -> Result<()> {
    ensure_len("out", x.len(), out.len())?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v != 0;
    }
    Ok(())
}

/// Reads an `f32` mask buffer into booleans (`true` for any non-zero value, torch's
/// `mask.bool()`).
///
/// # Shapes
/// `out`, `x`: `(B, T)`.
///
/// # Errors
/// [`Error::LengthMismatch`] if the lengths differ; [`Error::NonFinite`] for a NaN or infinite
/// entry (a mask holds `0` and `1`).
///
/// # Examples
/// ```
/// use rewardkit_core::layout::mask_bits_from_f32;
/// let mut bits = [false; 3];
/// mask_bits_from_f32(&mut bits, &[1.0, 0.0, 1.0])?;
/// assert_eq!(bits, [true, false, true]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn mask_bits_from_f32(out: &mut [bool], x: &[f32]) -> Result<()> {
    ensure_len("out", x.len(), out.len())?;
    crate::error::ensure_finite("mask", x)?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v != 0.0;
    }
    Ok(())
}

#[inline]
pub(crate) fn count_true(bits: &[bool]) -> usize {
    bits.iter().map(|&b| usize::from(b)).sum()
}

/// Writes a prefix mask: row `i` has its first `lengths[i]` tokens set.
///
/// # Shapes
/// `out`: `(B, T)`; `lengths`: `(B)`.
///
/// # Errors
/// [`Error::BadShape`] for a bad `T`; [`Error::LengthMismatch`] if `lengths.len() != B`;
/// [`Error::InvalidParam`] if a length exceeds `T`.
///
/// # Examples
/// ```
/// let mut bits = [false; 6];
/// rewardkit_core::layout::prefix_mask(&mut bits, &[1, 3], 3)?;
/// assert_eq!(bits, [true, false, false, true, true, true]);
/// # Ok::<(), rewardkit_core::Error>(())
/// ```
pub fn prefix_mask(out: &mut [bool], lengths: &[usize], seq_len: usize) -> Result<()> {
    let shape = TokenShape::from_len("out", out.len(), seq_len)?;
    shape.check_batch("lengths", lengths.len())?;
    for (row, &len) in out.chunks_exact_mut(seq_len).zip(lengths) {
        if len > seq_len {
            return Err(Error::InvalidParam {
                name: "lengths",
                value: len as f64,
                expected: "at most the sequence length T",
            });
        }
        for (j, b) in row.iter_mut().enumerate() {
            *b = j < len;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn rows_of(g: &GroupIndex<'_>) -> Vec<Vec<usize>> {
        (0..g.n_groups()).map(|k| g.rows(k).collect()).collect()
    }

    #[test]
    fn layouts_are_detected() {
        let u = GroupIndex::new(&[0, 0, 1, 1], 2).unwrap();
        assert_eq!(u.uniform_size(), Some(2));
        let s = GroupIndex::new(&[0, 0, 0, 1], 2).unwrap();
        assert!(s.is_contiguous() && s.uniform_size().is_none());
        assert_eq!(rows_of(&s), [vec![0, 1, 2], vec![3]]);
        assert_eq!(s.group_of(2), Some(0));
        assert_eq!(s.group_of(3), Some(1));
        let x = GroupIndex::new(&[1, 0, 1, 2, 0], 3).unwrap();
        assert!(!x.is_contiguous());
        assert_eq!(rows_of(&x), [vec![1, 4], vec![0, 2], vec![3]]);
        assert_eq!(x.group_size(0), Some(2));
        assert_eq!(x.group_size(3), None);
        assert_eq!(x.group_of(5), None);
    }

    #[test]
    fn borrowed_index_matches_owned() {
        let ids = [3u32, 1, 0, 3, 2, 1, 0, 0, 2, 3];
        let owned = GroupIndex::new(&ids, 4).unwrap();
        let (mut off, mut ord) = ([0u32; 5], [0u32; 10]);
        let borrowed = GroupIndex::new_in(&ids, 4, &mut off, &mut ord).unwrap();
        assert_eq!(rows_of(&owned), rows_of(&borrowed));
        assert_eq!(rows_of(&owned)[0], vec![2, 6, 7]);
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(borrowed.group_of(i), Some(id as usize));
        }
    }

    #[test]
    fn borrowed_singletons_and_pairs() {
        // Each group's cursor lives in its last slot; singletons overwrite it at once.
        let ids = [2u32, 0, 1, 1, 3, 0];
        let (mut off, mut ord) = ([0u32; 5], [0u32; 6]);
        let g = GroupIndex::new_in(&ids, 4, &mut off, &mut ord).unwrap();
        assert_eq!(rows_of(&g), [vec![1, 5], vec![2, 3], vec![0], vec![4]]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            GroupIndex::new(&[], 1).unwrap_err(),
            Error::Empty { what: "group ids" }
        );
        assert_eq!(
            GroupIndex::new(&[0, 2], 2).unwrap_err(),
            Error::GroupIdOutOfRange {
                row: 1,
                id: 2,
                n_groups: 2
            }
        );
        assert_eq!(
            GroupIndex::new(&[0, 2], 3).unwrap_err(),
            Error::EmptyGroup { group: 1 }
        );
        assert!(GroupIndex::uniform(5, 2).is_err());
        assert!(GroupIndex::uniform(4, 0).is_err());
        assert!(GroupIndex::uniform(0, 1).is_err());
        let (mut off, mut ord) = ([0u32; 2], [0u32; 3]);
        assert!(GroupIndex::new_in(&[0, 0], 2, &mut off, &mut ord).is_err());
    }

    #[test]
    fn labels() {
        let g = GroupIndex::from_labels(&["u2", "u1", "u2", "u3", "u1"]).unwrap();
        assert_eq!(g.n_groups(), 3);
        assert_eq!(rows_of(&g), [vec![0, 2], vec![1, 4], vec![3]]);
    }

    #[test]
    fn masks() {
        let bits = [true, false, true, true];
        let m = Mask::new(&bits, 2).unwrap();
        assert_eq!(m.shape().batch(), 2);
        let mut lens = [0; 2];
        m.row_lens(&mut lens).unwrap();
        assert_eq!(lens, [1, 2]);
        assert!(Mask::new(&bits, 3).is_err());
        assert!(Mask::new(&[], 3).is_err());
        assert!(TokenShape::new(0, 3).is_err());
        let mut out = [true; 4];
        assert!(prefix_mask(&mut out, &[3, 0], 2).is_err());
    }
}
