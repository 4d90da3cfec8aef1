//! The course assignments (`cargo xtask assignment`): for every chapter with exercises, the
//! reference solution scores 100 %, the generated student copy compiles, and its stubs score 0 in
//! every exercise.

use std::path::Path;

#[test]
fn every_reference_scores_full_marks_and_every_stub_zero() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace");
    let mut opts = xtask::assignment::GradeOptions::new(root);
    opts.verbose = false;
    xtask::assignment::check(root, &opts).unwrap_or_else(|e| panic!("{e:#}"));
}
