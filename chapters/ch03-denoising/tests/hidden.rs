//! Hidden tests for the course assignment (`cargo xtask assignment`): kept out of student copies.

use ch03_denoising::{gaussian_3x3, median_3x3, noise_rng, psnr, Noise, BACKGROUND};

#[test]
fn corrupt_edge_cases() {
    let pixels: Vec<f32> = (0..784).map(|i| (i % 7) as f32 / 7.0).collect();
    let mut rng = noise_rng(9, 0);
    assert_eq!(Noise::None.corrupt(&pixels, &mut rng), pixels);
    assert_eq!(
        Noise::Gaussian { sigma: 0.0 }.corrupt(&pixels, &mut rng),
        pixels
    );
    let all = Noise::Masking { fraction: 1.0 }.corrupt(&pixels, &mut rng);
    assert!(all.iter().all(|&p| p == BACKGROUND));
    let none = Noise::Masking { fraction: 0.0 }.corrupt(&pixels, &mut rng);
    assert_eq!(none, pixels);
    // Gaussian noise changes every pixel and is not clipped.
    let noisy = Noise::Gaussian { sigma: 3.0 }.corrupt(&pixels, &mut rng);
    assert!(noisy.iter().zip(&pixels).all(|(a, b)| a != b));
    assert!(noisy.iter().any(|&p| p.abs() > 1.5));
}

#[test]
fn psnr_matches_other_hand_values() {
    assert!((psnr(1.0, 10.0) - 20.0).abs() < 1e-12);
    assert!((psnr(0.25, 1.0) - 10.0 * 4f64.log10()).abs() < 1e-12);
    assert!((psnr(100.0, 1.0) + 20.0).abs() < 1e-12); // worse than the range: negative
}

#[test]
fn filters_at_the_border() {
    // A bright corner pixel: the median removes it; the blur, with repeated borders, keeps
    // (4 + 2 + 2 + 1)/16 of it in the corner.
    let mut img = vec![0.0f32; 784];
    img[0] = 16.0;
    assert!(median_3x3(&img).iter().all(|&v| v == 0.0));
    let blurred = gaussian_3x3(&img);
    assert_eq!(blurred[0], 9.0);
    assert_eq!(blurred[1], 6.0 * 16.0 / 16.0 / 2.0);
    // A horizontal edge survives the median exactly.
    let edge: Vec<f32> = (0..784)
        .map(|i| if i / 28 < 14 { -1.0 } else { 1.0 })
        .collect();
    assert_eq!(median_3x3(&edge), edge);
}
