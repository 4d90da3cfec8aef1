//! Unit tests of the chapter's formulas against hand values, finite differences and their definitions.
use super::*;

#[test]
fn parallel_corruption_draws_image_i_from_stream_first_plus_i_on_any_number_of_threads() {
    // Five different images, so a swapped stream or image shows.
    let images: Vec<f32> = (0..5 * PIXELS).map(|i| (i % 97) as f32 / 97.0).collect();
    let key = noise_rng(3, 1);
    for noise in [
        Noise::Gaussian { sigma: 0.5 },
        Noise::Masking { fraction: 0.3 },
    ] {
        let expected: Vec<f32> = images
            .chunks(PIXELS)
            .enumerate()
            .flat_map(|(i, image)| {
                let mut rng = key.clone();
                rng.set_stream(40 + i as u64);
                noise.corrupt(image, &mut rng)
            })
            .collect();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let noisy = pool.install(|| corrupt_in_parallel(&images, noise, &key, 40));
            assert_eq!(noisy, expected, "{noise}, {threads} thread(s)");
        }
    }
    // Two copies of one image get different noise: the streams are not the same.
    let twice = [images[..PIXELS].to_vec(), images[..PIXELS].to_vec()].concat();
    let noisy = corrupt_in_parallel(&twice, Noise::Gaussian { sigma: 0.5 }, &key, 0);
    assert_ne!(noisy[..PIXELS], noisy[PIXELS..]);
}

#[test]
fn gaussian_noise_has_mean_zero_and_variance_sigma_squared() {
    // n = 784,000 draws. Standard errors: mean σ/√n, sample variance σ²·√(2/n). A 5-standard-
    // error band fails by chance about once in 1.7 million runs (and the seed is fixed).
    let sigma = 0.5f64;
    let clean = vec![0.25f32; 784 * 1000];
    let noisy = Noise::Gaussian {
        sigma: sigma as f32,
    }
    .corrupt(&clean, &mut noise_rng(7, 1));
    let eps: Vec<f64> = noisy
        .iter()
        .zip(&clean)
        .map(|(a, b)| (a - b) as f64)
        .collect();
    let n = eps.len() as f64;
    let mean = eps.iter().sum::<f64>() / n;
    let var = eps.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0);
    assert!(mean.abs() < 5.0 * sigma / n.sqrt(), "mean {mean}");
    assert!(
        (var - sigma * sigma).abs() < 5.0 * sigma * sigma * (2.0 / n).sqrt(),
        "variance {var}"
    );
}

/// ∫ f(ε) φ(ε) dε for ε ~ N(0, σ²), by Simpson's rule on [−12σ, 12σ].
fn gaussian_expectation(sigma: f64, f: impl Fn(f64) -> f64) -> f64 {
    let (n, a) = (200_000, 12.0 * sigma);
    let h = 2.0 * a / n as f64;
    let density = |e: f64| {
        (-(e * e) / (2.0 * sigma * sigma)).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt())
    };
    let sum: f64 = (0..=n)
        .map(|i| {
            let e = -a + i as f64 * h;
            let w = if i == 0 || i == n {
                1.0
            } else {
                (2 + 2 * (i % 2)) as f64
            };
            w * f(e) * density(e)
        })
        .sum();
    sum * h / 3.0
}

/// The noise that reaches a pixel of value `x` once the noisy pixel is clipped to [−1, 1]:
/// ε cut at −1 − x and 1 − x.
fn clipped(x: f64, e: f64) -> f64 {
    (x + e).clamp(BACKGROUND as f64, -BACKGROUND as f64) - x
}

/// Share of clipped draws, mean, variance and fourth central moment of the clipped noise of a
/// pixel of value `x`, by quadrature.
fn clipped_moments(sigma: f64, x: f64) -> [f64; 4] {
    let range = BACKGROUND as f64..=-BACKGROUND as f64;
    let share = gaussian_expectation(sigma, |e| !range.contains(&(x + e)) as u8 as f64);
    let mean = gaussian_expectation(sigma, |e| clipped(x, e));
    let var = gaussian_expectation(sigma, |e| (clipped(x, e) - mean).powi(2));
    let m4 = gaussian_expectation(sigma, |e| (clipped(x, e) - mean).powi(4));
    [share, mean, var, m4]
}

/// `count` pixels of value `x` corrupted by the crate's Gaussian noise from `rng`, then
/// clipped to [−1, 1] (the exercise's change to `Noise::corrupt`): the share of clipped
/// pixels, and the noisy and clipped images.
fn clipped_draws(
    sigma: f32,
    x: f32,
    count: usize,
    rng: &mut impl Rng,
) -> (f64, Vec<f32>, Vec<f32>) {
    let noisy = Noise::Gaussian { sigma }.corrupt(&vec![x; count], rng);
    let clipped: Vec<f32> = noisy
        .iter()
        .map(|&v| v.clamp(BACKGROUND, -BACKGROUND))
        .collect();
    let share = noisy.iter().zip(&clipped).filter(|(a, b)| a != b).count() as f64 / count as f64;
    (share, noisy, clipped)
}

/// Sample mean and variance of the noise `noisy − x`.
fn noise_mean_and_variance(noisy: &[f32], x: f32) -> (f64, f64) {
    let n = noisy.len() as f64;
    let mean = noisy.iter().map(|&v| (v - x) as f64).sum::<f64>() / n;
    let var = noisy
        .iter()
        .map(|&v| ((v - x) as f64 - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var)
}

/// The solutions page's exercise 3: clip the Gaussian branch's noisy pixels to [−1, 1]. For
/// pixels of 0.25 and σ = 0.5 (the visible test's), about 7 % of the draws are clipped, the
/// noise's mean moves by about −0.014, five times the test's band of five standard errors
/// (0.0028), and its variance falls from 0.25 to about 0.22, so
/// `gaussian_noise_has_mean_zero_and_variance_sigma_squared` would fail. On the background
/// (−1) only the positive draws survive: mean σ/√(2π), variance below σ². Quadrature of the
/// clipped normal, and the crate's own draws, clipped, against it.
#[test]
fn clipped_gaussian_noise_moves_the_mean_and_shrinks_the_variance() {
    let sigma = 0.5f64;
    // The visible test's pixels and draws: 784,000 pixels of 0.25, `noise_rng(7, 1)`.
    let (pixel, count) = (0.25f32, 784 * 1000);
    let n = count as f64;
    let [share, shift, variance, m4] = clipped_moments(sigma, pixel as f64);
    assert_eq!(format!("{:.0}", 100.0 * share), "7", "{share}"); // "about 7 %"
    assert_eq!(format!("{shift:.3}"), "-0.014", "{shift}");
    assert_eq!(format!("{variance:.2}"), "0.22", "{variance}");
    let band = 5.0 * sigma / n.sqrt();
    assert_eq!(format!("{band:.4}"), "0.0028", "{band}");
    assert_eq!((shift.abs() / band).round(), 5.0, "{}", shift.abs() / band);

    // The crate's draws, clipped, agree within five standard errors of each estimate (the
    // sample variance's from the fourth central moment).
    let (clipped_share, noisy, clipped) =
        clipped_draws(sigma as f32, pixel, count, &mut noise_rng(7, 1));
    let (mean, var) = noise_mean_and_variance(&clipped, pixel);
    assert!(
        (clipped_share - share).abs() < 5.0 * (share * (1.0 - share) / n).sqrt(),
        "{clipped_share} vs {share}"
    );
    assert!(
        (mean - shift).abs() < 5.0 * (variance / n).sqrt(),
        "{mean} vs {shift}"
    );
    let var_se = ((m4 - variance * variance) / n).sqrt();
    assert!((var - variance).abs() < 5.0 * var_se, "{var} vs {variance}");
    // So both of the visible test's checks would fail on clipped noise…
    assert!(mean.abs() > band, "{mean}");
    assert!((var - sigma * sigma).abs() > 5.0 * sigma * sigma * (2.0 / n).sqrt());
    // …and the noisy input's PSNR rises: clipping brings each pixel closer to its clean value.
    let clean = vec![pixel; count];
    assert!(psnr(mse(&clipped, &clean), 2.0) > psnr(mse(&noisy, &clean), 2.0));

    // The background: −1 + ε clipped at −1 keeps the positive draws only (and the cut at
    // +2 = 4σ is negligible), so the noise is max(ε, 0): mean σ/√(2π), variance
    // σ²(1/2 − 1/(2π)) < σ².
    let [_, bg_mean, bg_variance, bg_m4] = clipped_moments(sigma, BACKGROUND as f64);
    let half_normal_mean = sigma / (2.0 * std::f64::consts::PI).sqrt();
    let half_normal_var = sigma * sigma * (0.5 - 1.0 / (2.0 * std::f64::consts::PI));
    assert!((bg_mean - half_normal_mean).abs() < 1e-5, "{bg_mean}");
    assert!(
        (bg_variance - half_normal_var).abs() < 1e-4,
        "{bg_variance}"
    );
    assert!(bg_variance < sigma * sigma);
    let count = 784 * 200;
    let n = count as f64;
    let (_, _, clipped) = clipped_draws(sigma as f32, BACKGROUND, count, &mut noise_rng(7, 4));
    let (mean, var) = noise_mean_and_variance(&clipped, BACKGROUND);
    assert!(
        (mean - bg_mean).abs() < 5.0 * (bg_variance / n).sqrt(),
        "{mean} vs {bg_mean}"
    );
    let var_se = ((bg_m4 - bg_variance * bg_variance) / n).sqrt();
    assert!(
        (var - bg_variance).abs() < 5.0 * var_se,
        "{var} vs {bg_variance}"
    );
}

#[test]
fn masking_blackens_the_requested_fraction() {
    // Binomial(n, p): standard error √(p(1 − p)/n); 5 of them.
    let p = 0.3f64;
    let clean = vec![0.5f32; 784 * 1000];
    let noisy = Noise::Masking { fraction: p as f32 }.corrupt(&clean, &mut noise_rng(7, 2));
    let masked = noisy.iter().filter(|&&v| v == BACKGROUND).count() as f64;
    let n = clean.len() as f64;
    assert!(
        (masked / n - p).abs() < 5.0 * (p * (1.0 - p) / n).sqrt(),
        "{}",
        masked / n
    );
    // Unmasked pixels are untouched.
    assert!(noisy.iter().all(|&v| v == BACKGROUND || v == 0.5));
}

#[test]
fn the_training_target_is_the_clean_image() {
    let dev = Cpu::seed_from_u64(0);
    let mut model = dev.build_module::<DenoisingAutoencoder, f32>();
    let clean_v = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::FashionMnist)
        .test
        .head(4)
        .to_symmetric_range()
        .images;
    let noisy_v = Noise::Gaussian { sigma: 0.5 }.corrupt(&clean_v, &mut noise_rng(0, 3));
    let clean = dev.tensor_from_vec(clean_v.clone(), (4, Const::<PIXELS>));
    let noisy = dev.tensor_from_vec(noisy_v.clone(), (4, Const::<PIXELS>));
    let grads = model.alloc_grads();
    let loss = denoising_loss(&mut model, clean, noisy.clone(), grads).array() as f64;
    let output = model.logits(noisy).as_vec();
    let against_clean = mse(&output, &clean_v);
    let against_noisy = mse(&output, &noisy_v);
    assert!(
        (loss - against_clean).abs() < 1e-5 * against_clean,
        "{loss} vs {against_clean}"
    );
    assert!(
        (against_clean - against_noisy).abs() > 0.1,
        "the two targets must differ"
    );
}

#[test]
fn psnr_matches_hand_values() {
    assert!((psnr(0.01, 2.0) - 10.0 * 400f64.log10()).abs() < 1e-12); // 26.0206 dB
    assert!((psnr(0.01, 2.0) - 26.020_599_913).abs() < 1e-8);
    assert_eq!(psnr(4.0, 2.0), 0.0); // MSE equal to the squared range
    assert!((psnr(0.04, 2.0) - 20.0).abs() < 1e-12); // R²/MSE = 100
    assert!((psnr(1e-4, 1.0) - 40.0).abs() < 1e-9);
    assert_eq!(psnr(0.0, 2.0), f64::INFINITY);
    assert!((mse(&[1.0, -1.0], &[0.0, 0.0]) - 1.0).abs() < 1e-12);
}

#[test]
fn mean_psnr_averages_the_images_decibels() {
    // Two images off by 0.2 and by 0.02 everywhere: 20 dB and 40 dB, so 30 dB on average
    // (the PSNR of the mean MSE would be 23 dB).
    let clean = vec![0.0f32; 2 * PIXELS];
    let mut noisy = vec![0.2f32; PIXELS];
    noisy.extend(vec![0.02f32; PIXELS]);
    assert!((mean_psnr(&noisy, &clean) - 30.0).abs() < 1e-5);
}

#[test]
fn psnr_rows_bold_the_best_denoiser_and_name_their_noise() {
    let row = PsnrRow {
        noise: Noise::Gaussian { sigma: 0.5 },
        noisy_input: 30.0, // better than every denoiser, but not one
        denoisers: vec![18.964, 19.5],
        median_3x3: 17.0,
        gaussian_3x3: 19.5,
    };
    assert_eq!(row.values(), [30.0, 18.964, 19.5, 17.0, 19.5]);
    assert_eq!(
        row.cells(),
        ["0.5", "30.00", "18.96", "**19.50**", "17.00", "**19.50**"]
    );
    assert_eq!(row.key(), "s0_5");
    let masking = PsnrRow {
        noise: Noise::Masking { fraction: 0.3 },
        ..row
    };
    assert_eq!(
        (masking.label().as_str(), masking.key().as_str()),
        ("masking 30 %", "masking")
    );
    let table = psnr_table(&["a · 甲", "b · 乙"], &[masking]);
    assert!(table.starts_with(
        "| σ | noisy input · 含噪输入 | a · 甲 | b · 乙 | median 3×3 · 中值滤波 | Gaussian 3×3 · 高斯滤波 |\n|---|---|---|---|---|---|\n| masking 30 % |"
    ));
}

#[test]
fn psnr_test_images_score_each_denoiser_on_the_same_noise() {
    let test = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
        .test
        .head(20)
        .to_symmetric_range();
    let images = PsnrTestImages::draw(&test, 0.5, 0.3, 0);
    assert_eq!(images, PsnrTestImages::draw(&test, 0.5, 0.3, 0));
    assert_eq!(images.clean.images, test.images); // fewer than PSNR_IMAGES: all of them
                                                  // The training-σ copy is a draw of its own, not the table's σ = 0.5 row.
    assert_ne!(images.at_training_noise, images.gaussian[3]);
    let inputs = images.gaussian_inputs();
    assert_eq!(inputs.len(), PSNR_SIGMAS.len() + 1);
    // Two "denoisers": one returns its input, one the clean images.
    let identity: Vec<Vec<f32>> = inputs.iter().map(|x| x.to_vec()).collect();
    let oracle = vec![test.images.clone(); inputs.len()];
    let rows = images.score(
        &[identity.as_slice(), oracle.as_slice()],
        &[images.masked.as_slice(), test.images.as_slice()],
    );
    assert_eq!(rows.len(), PSNR_SIGMAS.len() + 1);
    for row in &rows {
        assert_eq!(row.denoisers[0], row.noisy_input);
        assert_eq!(row.denoisers[1], f64::INFINITY);
    }
    // Noisier rows score lower: 20 log₁₀(2 / σ) dB, about.
    let input: Vec<f64> = rows[..PSNR_SIGMAS.len()]
        .iter()
        .map(|r| r.noisy_input)
        .collect();
    assert!(input.windows(2).all(|w| w[0] > w[1]), "{input:?}");
    assert!((input[3] - 20.0 * 4f64.log10()).abs() < 0.2, "{}", input[3]);
}

#[test]
fn filters_match_hand_values() {
    // One bright pixel on black: the median removes it, the blur spreads it 4/16 : 2/16 : 1/16.
    let mut img = vec![0.0f32; 784];
    img[10 * 28 + 10] = 16.0;
    assert!(median_3x3(&img).iter().all(|&v| v == 0.0));
    let blurred = gaussian_3x3(&img);
    assert_eq!(blurred[10 * 28 + 10], 4.0);
    assert_eq!(blurred[10 * 28 + 11], 2.0);
    assert_eq!(blurred[11 * 28 + 11], 1.0);
    assert_eq!(blurred.iter().sum::<f32>(), 16.0);
    // A constant image is left alone by both, borders included.
    let flat = vec![0.3f32; 784];
    assert!(median_3x3(&flat)
        .iter()
        .chain(&gaussian_3x3(&flat))
        .all(|&v| (v - 0.3).abs() < 1e-6));
    // A vertical edge survives the median exactly.
    let edge: Vec<f32> = (0..784)
        .map(|i| if i % 28 < 14 { -1.0 } else { 1.0 })
        .collect();
    assert_eq!(median_3x3(&edge), edge);
}
