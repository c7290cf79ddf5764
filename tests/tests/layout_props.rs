//! The layout seams a GPU backend fills its buffers from: `GroupIndex` as `u32` CSR slices, masks
//! as `u32`/`f32`, per-row lengths; `from_labels` by hashing.

use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use rewardkit_core::layout::{
    GroupLayout, label_hash, mask_bits_from_f32, mask_bits_from_u32, prefix_mask,
};
use rewardkit_core::{Error, GroupIndex, Mask};
use rewardkit_tests::oracle::members;
use rewardkit_tests::strategies::{group_ids, holey_mask};

/// Checks the `u32` views of `g` against its row lists.
fn check_seams(g: &GroupIndex<'_>, ids: &[u32]) {
    let (b, n) = (g.n_rows(), g.n_groups());
    let want = members(ids, n);
    let (mut off, mut rows, mut got_ids) = (vec![0u32; n + 1], vec![0u32; b], vec![0u32; b]);
    g.write_offsets(&mut off).unwrap();
    g.write_rows(&mut rows).unwrap();
    g.write_ids(&mut got_ids).unwrap();
    assert_eq!(got_ids, ids);
    assert_eq!((off[0], off[n]), (0, b as u32));
    for (k, w) in want.iter().enumerate() {
        let seg: Vec<usize> = rows[off[k] as usize..off[k + 1] as usize]
            .iter()
            .map(|&r| r as usize)
            .collect();
        assert_eq!(&seg, w, "group {k}");
        assert_eq!(g.rows(k).collect::<Vec<_>>(), *w);
    }
    match g.layout() {
        GroupLayout::Uniform { size } => {
            assert!(want.iter().all(|w| w.len() == size));
            assert!(rows.iter().enumerate().all(|(i, &r)| r as usize == i));
        }
        GroupLayout::Contiguous { offsets } => {
            assert_eq!(offsets, off.as_slice());
            assert!(rows.iter().enumerate().all(|(i, &r)| r as usize == i));
        }
        GroupLayout::Scattered {
            ids: s_ids,
            offsets,
            rows: s_rows,
        } => {
            assert_eq!(
                (s_ids, offsets, s_rows),
                (ids, off.as_slice(), rows.as_slice())
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn csr_views_match_the_groups((ids, g) in group_ids()) {
        check_seams(&GroupIndex::new(&ids, g).unwrap(), &ids);
        // The borrowed (no-allocator) index exposes the same views.
        let (mut off, mut ord) = (vec![0u32; g + 1], vec![0u32; ids.len()]);
        check_seams(&GroupIndex::new_in(&ids, g, &mut off, &mut ord).unwrap(), &ids);
        // Sorted ids: the contiguous or uniform forms.
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        check_seams(&GroupIndex::new(&sorted, g).unwrap(), &sorted);
    }

    #[test]
    fn labels_group_like_their_ids((ids, g) in group_ids(), salt in any::<u64>()) {
        // Labels: strings derived from the ids; groups numbered by first appearance.
        let labels: Vec<String> = ids.iter().map(|i| format!("uid-{salt:x}-{i}")).collect();
        let idx = GroupIndex::from_labels(&labels).unwrap();
        prop_assert_eq!(idx.n_groups(), g);
        let mut first = std::collections::HashMap::new();
        for (row, l) in labels.iter().enumerate() {
            let next = first.len();
            let want = *first.entry(l.clone()).or_insert(next);
            prop_assert_eq!(idx.group_of(row), Some(want));
        }
    }

    #[test]
    fn hashed_labels_group_like_the_labels((ids, g) in group_ids(), salt in any::<u64>()) {
        // from_label_hashes on label_hash of each label = from_labels on the labels (no
        // collision among these few labels), groups numbered by first appearance.
        let labels: Vec<String> = ids.iter().map(|i| format!("{salt}/{i}")).collect();
        let hashes: Vec<u64> = labels.iter().map(label_hash).collect();
        let (a, b) = (GroupIndex::from_labels(&labels).unwrap(), GroupIndex::from_label_hashes(&hashes).unwrap());
        prop_assert_eq!(a.n_groups(), g);
        prop_assert_eq!(b.n_groups(), g);
        for row in 0..ids.len() {
            prop_assert_eq!(a.group_of(row), b.group_of(row));
        }
    }

    #[test]
    fn masks_round_trip_through_u32_and_f32(bits in holey_mask(5, 7)) {
        let mask = Mask::new(&bits, 7).unwrap();
        let (mut u, mut f) = (vec![9u32; 35], vec![9.0f32; 35]);
        mask.write_u32(&mut u).unwrap();
        mask.write_f32(&mut f).unwrap();
        let (mut b1, mut b2) = (vec![false; 35], vec![true; 35]);
        mask_bits_from_u32(&mut b1, &u).unwrap();
        mask_bits_from_f32(&mut b2, &f).unwrap();
        prop_assert_eq!(&b1, &bits);
        prop_assert_eq!(&b2, &bits);
        let mut lens = vec![0u32; 5];
        mask.row_lens_u32(&mut lens).unwrap();
        for (i, &l) in lens.iter().enumerate() {
            prop_assert_eq!(l as usize, mask.row_len(i).unwrap());
        }
        // A prefix mask from those lengths has the same row lengths.
        let mut p = vec![false; 35];
        let lens_us: Vec<usize> = lens.iter().map(|&l| l as usize).collect();
        prefix_mask(&mut p, &lens_us, 7).unwrap();
        prop_assert_eq!(Mask::new(&p, 7).unwrap().count(), mask.count());
    }
}

/// A label whose hash is constant: every lookup collides, so grouping must rest on `==`.
#[derive(Debug, PartialEq, Eq)]
struct Colliding(u32);

impl Hash for Colliding {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(7);
    }
}

#[test]
fn colliding_hashes_never_merge_distinct_labels() {
    let labels: Vec<Colliding> = (0..3000u32).map(|i| Colliding((i * 7919) % 1500)).collect();
    let g = GroupIndex::from_labels(&labels).unwrap();
    assert_eq!(g.n_groups(), 1500);
    for (row, l) in labels.iter().enumerate() {
        let first = labels.iter().position(|x| x == l).unwrap();
        assert_eq!(g.group_of(row), g.group_of(first));
    }
    // Many distinct labels: the table grows past its initial 1024 slots.
    let many: Vec<u64> = (0..100_000u64)
        .map(|i| (i % 40_000) * 2_654_435_761)
        .collect();
    let g = GroupIndex::from_labels(&many).unwrap();
    assert_eq!(g.n_groups(), 40_000);
    assert_eq!(g.group_of(40_000), Some(0)); // the same label as row 0
    assert_eq!(g.group_of(39_999), Some(39_999));
}

#[test]
fn seam_errors() {
    let g = GroupIndex::new(&[1, 0, 1], 2).unwrap();
    assert_eq!(
        g.write_offsets(&mut [0; 2]),
        Err(Error::LengthMismatch {
            what: "offsets",
            expected: 3,
            got: 2
        })
    );
    assert_eq!(
        g.write_rows(&mut [0; 4]),
        Err(Error::LengthMismatch {
            what: "rows",
            expected: 3,
            got: 4
        })
    );
    assert_eq!(
        g.write_ids(&mut [0; 2]),
        Err(Error::LengthMismatch {
            what: "ids",
            expected: 3,
            got: 2
        })
    );
    let bits = [true, false, true, true];
    let m = Mask::new(&bits, 2).unwrap();
    assert!(matches!(
        m.write_u32(&mut [0; 3]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        m.write_f32(&mut [0.0; 5]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        m.row_lens_u32(&mut [0; 1]),
        Err(Error::LengthMismatch { .. })
    ));
    let mut out = [false; 2];
    assert!(matches!(
        mask_bits_from_u32(&mut out, &[1]),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(
        mask_bits_from_f32(&mut out, &[1.0, f32::NAN]),
        Err(Error::NonFinite {
            what: "mask",
            index: 1
        })
    );
    assert_eq!(
        GroupIndex::from_labels::<&str>(&[]).unwrap_err(),
        Error::Empty { what: "labels" }
    );
    assert_eq!(
        GroupIndex::from_label_hashes(&[]).unwrap_err(),
        Error::Empty { what: "labels" }
    );
    // Equal hashes are one group by definition (the caller's hash decides); growth past 1024.
    let many: Vec<u64> = (0..50_000u64).map(|i| (i % 20_000) << 40).collect();
    let g = GroupIndex::from_label_hashes(&many).unwrap();
    assert_eq!(g.n_groups(), 20_000);
    assert_eq!(
        (g.group_of(20_000), g.group_of(19_999)),
        (Some(0), Some(19_999))
    );
}
