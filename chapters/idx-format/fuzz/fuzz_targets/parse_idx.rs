//! Any bytes, read as an images file and as a labels file: an error or a consistent `Idx`, never
//! a panic, an overflow (built with `-a`, so overflow checks are on) or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_idx::{Idx, IdxKind, IMAGE_SIDE};

fuzz_target!(|bytes: &[u8]| {
    for kind in [IdxKind::Images, IdxKind::Labels] {
        let Ok(idx) = Idx::parse(bytes, kind, "fuzz input") else {
            continue;
        };
        assert_eq!(idx.kind, kind);
        assert_eq!(idx.data.len(), idx.count * idx.rows * idx.cols);
        match kind {
            IdxKind::Images => assert_eq!((idx.rows, idx.cols), (IMAGE_SIDE, IMAGE_SIDE)),
            IdxKind::Labels => assert_eq!((idx.rows, idx.cols), (1, 1)),
        }
        // What was accepted writes back to bytes that read the same.
        assert_eq!(Idx::parse(&idx.to_bytes(), kind, "round trip"), Ok(idx));
    }
});
