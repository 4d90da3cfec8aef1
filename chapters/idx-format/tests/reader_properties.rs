//! Property tests: whatever the bytes — valid files, valid files mutated (flipped bytes,
//! truncations, extensions, overwritten header fields, gzip'd before or after), or noise behind a
//! plausible header — reading gives a consistent `Idx` or a clean error, never a panic.
//!
//! 4,096 + 4,096 + 1,024 + 256 cases; a few seconds in the (optimised) test profile.

use std::io::Write;

use mnist_idx::{Idx, IdxError, IdxKind, IMAGES_MAGIC, IMAGE_SIDE, LABELS_MAGIC};
use proptest::prelude::*;

const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A valid file: up to 3 images of 28×28 or up to 40 labels, with arbitrary payload bytes.
fn valid_idx() -> impl Strategy<Value = Idx> {
    prop_oneof![
        (0usize..4).prop_flat_map(|count| {
            proptest::collection::vec(any::<u8>(), count * PIXELS).prop_map(move |data| Idx {
                kind: IdxKind::Images,
                count,
                rows: IMAGE_SIDE,
                cols: IMAGE_SIDE,
                data,
            })
        }),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|data| Idx {
            kind: IdxKind::Labels,
            count: data.len(),
            rows: 1,
            cols: 1,
            data,
        }),
    ]
}

/// Header field values that make readers misbehave, and some ordinary ones.
fn field_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(28),
        Just(65535),
        Just(u32::MAX),
        Just(u32::MAX / 784),
        Just(1 << 31),
        Just(IMAGES_MAGIC),
        Just(LABELS_MAGIC),
        Just(0x1f8b_0800),
        any::<u32>(),
    ]
}

/// One change to a byte string. Positions are fractions of its length, so they always land.
#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: f64, mask: u8 },
    Truncate { keep: f64 },
    Extend(Vec<u8>),
    OverwriteField { field: usize, value: u32 },
    Gzip,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64, 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (0.0..1.0f64).prop_map(|keep| Mutation::Truncate { keep }),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        (0usize..4, field_value())
            .prop_map(|(field, value)| Mutation::OverwriteField { field, value }),
        Just(Mutation::Gzip),
    ]
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let pos = |f: f64, len: usize| ((f * len as f64) as usize).min(len.saturating_sub(1));
    match m {
        Mutation::Flip { at, mask } => {
            if !bytes.is_empty() {
                let i = pos(*at, bytes.len());
                bytes[i] ^= mask;
            }
        }
        Mutation::Truncate { keep } => bytes.truncate((keep * bytes.len() as f64) as usize),
        Mutation::Extend(tail) => bytes.extend_from_slice(tail),
        Mutation::OverwriteField { field, value } => {
            let at = 4 * field;
            if bytes.len() >= at + 4 {
                bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
        }
        Mutation::Gzip => bytes = gzip(&bytes),
    }
    bytes
}

/// The property: a consistent value or an error naming the file — for both kinds.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    for kind in [IdxKind::Images, IdxKind::Labels] {
        match Idx::parse(bytes, kind, "case") {
            Ok(idx) => {
                prop_assert_eq!(idx.kind, kind);
                prop_assert_eq!(idx.data.len(), idx.count * idx.rows * idx.cols);
                let shape = match kind {
                    IdxKind::Images => (IMAGE_SIDE, IMAGE_SIDE),
                    IdxKind::Labels => (1, 1),
                };
                prop_assert_eq!((idx.rows, idx.cols), shape);
            }
            Err(e) => {
                let file = match &e {
                    IdxError::Unreadable { file, .. }
                    | IdxError::Corrupt { file, .. }
                    | IdxError::WrongShape { file, .. } => file,
                };
                prop_assert_eq!(file, "case");
                prop_assert!(e.to_string().starts_with("case "), "{}", e);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Mutated valid files, plain or gzip'd at any step.
    #[test]
    fn mutated_files_read_cleanly(
        idx in valid_idx(),
        mutations in proptest::collection::vec(mutation(), 0..5),
    ) {
        let bytes = mutations.iter().fold(idx.to_bytes(), apply);
        check(&bytes)?;
        if mutations.is_empty() {
            prop_assert_eq!(Idx::parse(&bytes, idx.kind, "x"), Ok(idx));
        }
    }

    /// A plausible header (right magic, hostile fields) in front of arbitrary bytes, raw or gzip'd.
    #[test]
    fn hostile_headers_read_cleanly(
        images in any::<bool>(),
        fields in proptest::array::uniform3(field_value()),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        zipped in any::<bool>(),
    ) {
        let mut bytes = if images { IMAGES_MAGIC } else { LABELS_MAGIC }.to_be_bytes().to_vec();
        let n_fields = if images { 3 } else { 1 };
        for f in &fields[..n_fields] {
            bytes.extend_from_slice(&f.to_be_bytes());
        }
        bytes.extend_from_slice(&body);
        if zipped {
            bytes = gzip(&bytes);
        }
        check(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Pure noise, sometimes starting with the gzip magic bytes.
    #[test]
    fn noise_reads_cleanly(
        gzip_magic in any::<bool>(),
        mut bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        if gzip_magic {
            bytes.splice(0..0, [0x1f, 0x8b]);
        }
        check(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Through a file, where the size known up front decides before anything is read.
    #[test]
    fn files_on_disk_agree_with_bytes_in_memory(
        idx in valid_idx(),
        mutations in proptest::collection::vec(mutation(), 0..3),
    ) {
        let bytes = mutations.iter().fold(idx.to_bytes(), apply);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case");
        std::fs::write(&path, &bytes).unwrap();
        let from_file = Idx::read(&path, idx.kind).map_err(|e| e.to_string());
        let from_bytes = Idx::parse(&bytes, idx.kind, &path.display().to_string())
            .map_err(|e| e.to_string());
        prop_assert_eq!(from_file, from_bytes);
    }
}
