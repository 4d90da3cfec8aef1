//! Hidden tests for the course assignment (`cargo xtask assignment`): kept out of student copies.

use ch07_convolutional::{alternating_energy, receptive_field, Window};

fn window(kernel: usize, stride: usize, padding: usize) -> Window {
    Window::new(kernel, stride, padding)
}

#[test]
fn receptive_field_matches_hand_values() {
    assert_eq!(receptive_field(&[]), (1, 1, 0));
    // Two 3×3 convolutions with stride 2 and padding 1: 1 + 2·1 = 3, then 3 + 2·2 = 7; the jump
    // 2, then 4; the start −1, then −1 − 1·2 = −3.
    assert_eq!(
        receptive_field(&[window(3, 2, 1), window(3, 2, 1)]),
        (7, 4, -3)
    );
    // A 2×2 pooling first, then a 5×5 convolution without padding: 2, then 2 + 4·2 = 10.
    assert_eq!(
        receptive_field(&[window(2, 2, 0), window(5, 1, 0)]),
        (10, 2, 0)
    );
}

#[test]
fn receptive_field_of_one_window_is_the_window() {
    for (k, s, p) in [(1, 1, 0), (3, 1, 1), (7, 3, 2), (4, 2, 1)] {
        assert_eq!(
            receptive_field(&[window(k, s, p)]),
            (k, s, -(p as isize)),
            "kernel {k}, stride {s}, padding {p}"
        );
    }
}

#[test]
fn alternating_energy_of_a_two_by_two_image() {
    // [1 2; 3 4]: c₁₀ = (1 + 2 − 3 − 4)/4 = −1, c₀₁ = (1 − 2 + 3 − 4)/4 = −0.5,
    // c₁₁ = (1 − 2 − 3 + 4)/4 = 0, so E = 1.25.
    assert!((alternating_energy(&[1.0, 2.0, 3.0, 4.0], 2) - 1.25).abs() < 1e-12);
}

#[test]
fn alternating_energy_ignores_sign_and_offset() {
    // A fixed pseudo-random 28×28 image: E(−x) = E(x), and E(x + 0.5) = E(x) on an even side.
    let x: Vec<f32> = (0..784u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32)
        .collect();
    let e = alternating_energy(&x, 28);
    assert!(e > 0.0);
    let negated: Vec<f32> = x.iter().map(|v| -v).collect();
    let shifted: Vec<f32> = x.iter().map(|v| v + 0.5).collect();
    assert!((alternating_energy(&negated, 28) - e).abs() < 1e-12 * (1.0 + e));
    assert!((alternating_energy(&shifted, 28) - e).abs() < 1e-9);
}
