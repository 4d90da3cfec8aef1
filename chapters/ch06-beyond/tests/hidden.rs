//! Hidden tests for the course assignment (`cargo xtask assignment`): kept out of student copies.

use ch06_beyond::{principal_angles, roc_auc};
use std::f64::consts::FRAC_PI_2;

#[test]
fn principal_angles_of_a_rotated_plane() {
    // Rotate the (e₁, e₂) plane of R³ by θ about e₁: angles 0 and θ, whatever the basis order.
    let theta = 0.3f64;
    let a = vec![vec![0.0, 2.0, 0.0], vec![1.0, 0.0, 0.0]];
    let b = vec![vec![1.0, 0.0, 0.0], vec![0.0, theta.cos(), theta.sin()]];
    let t = principal_angles(&a, &b);
    assert_eq!(t.len(), 2);
    assert!(t[0].abs() < 1e-7 && (t[1] - theta).abs() < 1e-9, "{t:?}");
}

#[test]
fn principal_angles_between_subspaces_of_different_dimension() {
    // A line inside a plane makes angle 0 with it; a line orthogonal to it, 90°. One angle each.
    let plane = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]];
    let inside = principal_angles(&[vec![3.0, 4.0, 0.0]], &plane);
    let outside = principal_angles(&[vec![0.0, 0.0, -2.0]], &plane);
    assert_eq!((inside.len(), outside.len()), (1, 1));
    assert!(inside[0].abs() < 1e-7, "{inside:?}");
    assert!((outside[0] - FRAC_PI_2).abs() < 1e-9, "{outside:?}");
}

#[test]
fn roc_auc_handles_ties_across_groups() {
    // normal 1, 2, 2, 3; anomalous 2, 4: pairs won 0.5+0.5 (2 vs 2s) + 1 (2 vs 1) + 4 (4 vs all)
    // = 6 of 8.
    assert_eq!(roc_auc(&[1.0, 2.0, 2.0, 3.0], &[2.0, 4.0]), Ok(0.75));
    // The order of the inputs does not matter.
    assert_eq!(roc_auc(&[3.0, 2.0, 1.0, 2.0], &[4.0, 2.0]), Ok(0.75));
}

#[test]
fn roc_auc_on_a_sample_the_size_of_the_test_set() {
    // 9,000 normal and 1,000 anomalous scores, interleaved: anomalous item i (score 18i + 9)
    // beats the normal items 0..=9i+4 (scores 2j).
    let normal: Vec<f64> = (0..9_000).map(|i| (2 * i) as f64).collect();
    let anomalous: Vec<f64> = (0..1_000).map(|i| (18 * i + 9) as f64).collect();
    let wins: f64 = (0..1_000).map(|i| (9 * i + 5) as f64).sum();
    let auc = roc_auc(&normal, &anomalous).unwrap();
    assert!((auc - wins / 9e6).abs() < 1e-12, "{auc}");
    // Flipping every score flips the ranking.
    let neg = |v: &[f64]| v.iter().map(|s| -s).collect::<Vec<_>>();
    assert!((roc_auc(&neg(&normal), &neg(&anomalous)).unwrap() - (1.0 - auc)).abs() < 1e-12);
}
