//! Unit tests of the chapter's formulas against hand values and their definitions.
use super::*;
use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, FRAC_PI_6};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() < tol
}

#[test]
fn principal_angles_match_hand_computed_values() {
    // span{e₁, e₂} against span{e₁, cos 30° e₂ + sin 30° e₃}: angles 0 and 30°.
    let (c, s) = (FRAC_PI_6.cos(), FRAC_PI_6.sin());
    let a = vec![vec![1.0, 0.0, 0.0, 0.0], vec![0.0, 1.0, 0.0, 0.0]];
    let b = vec![vec![1.0, 0.0, 0.0, 0.0], vec![0.0, c, s, 0.0]];
    let t = principal_angles(&a, &b);
    assert!(
        close(t[0], 0.0, 1e-7) && close(t[1], FRAC_PI_6, 1e-9),
        "{t:?}"
    );
    // Orthogonal planes: both angles 90°.
    let b = vec![vec![0.0, 0.0, 1.0, 0.0], vec![0.0, 0.0, 0.0, 1.0]];
    let t = principal_angles(&a, &b);
    assert!(t.iter().all(|&t| close(t, FRAC_PI_2, 1e-9)), "{t:?}");
    // Lines at 45° in the plane.
    let t = principal_angles(&[vec![1.0, 0.0]], &[vec![1.0, 1.0]]);
    assert!(close(t[0], FRAC_PI_4, 1e-9), "{t:?}");
}

#[test]
fn principal_angles_ignore_the_choice_of_basis() {
    // The same plane, described by a scaled and mixed basis: all angles zero.
    let a = vec![vec![1.0, 2.0, 0.0, -1.0], vec![0.0, 1.0, 3.0, 1.0]];
    let b = vec![
        a[0].iter().zip(&a[1]).map(|(x, y)| 3.0 * x - y).collect(),
        a[0].iter()
            .zip(&a[1])
            .map(|(x, y)| 0.5 * x + 2.0 * y)
            .collect(),
    ];
    let t = principal_angles(&a, &b);
    assert!(t.iter().all(|&t| t < 1e-6), "{t:?}");
}

/// The chapter's yardstick: a random 10-dimensional subspace of R⁷⁸⁴ is nearly orthogonal to
/// the PCA subspace (cosines of order 2√(k/n) ≈ 0.23, so every angle above about 75°).
#[test]
fn a_random_subspace_is_nearly_orthogonal_to_the_pca_one() {
    let dev = Cpu::seed_from_u64(4);
    let train = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist).train;
    let pca = Pca::fit(&train.images, PIXELS, 10);
    let random: Vec<Vec<f64>> = (0..10)
        .map(|_| {
            let v: Tensor<Rank1<PIXELS>, f32, Cpu> = dev.sample_normal();
            v.as_vec().into_iter().map(f64::from).collect()
        })
        .collect();
    let angles: Vec<f64> = principal_angles(&random, &pca.components)
        .iter()
        .map(|a| a.to_degrees())
        .collect();
    assert!(angles.iter().all(|&a| a > 70.0), "{angles:?}");
}

#[test]
fn roc_auc_matches_hand_counts() {
    // Pairs (anomalous, normal): 3 > 1, 3 > 2, 0.5 < 1, 0.5 < 2 → 2 of 4.
    assert_eq!(roc_auc(&[1.0, 2.0], &[3.0, 0.5]), Ok(0.5));
    // Perfect and perfectly wrong rankings.
    assert_eq!(roc_auc(&[1.0, 2.0], &[5.0, 6.0, 7.0]), Ok(1.0));
    assert_eq!(roc_auc(&[5.0, 6.0], &[1.0]), Ok(0.0));
    // A tie counts one half: (2 vs 2) ½, (2 vs 1) 1 → 1.5 / 2.
    assert_eq!(roc_auc(&[2.0, 1.0], &[2.0]), Ok(0.75));
    // All tied: ½.
    assert_eq!(roc_auc(&[4.0; 3], &[4.0; 5]), Ok(0.5));
}

#[test]
fn roc_auc_refuses_non_finite_scores_and_empty_groups() {
    // A NaN equals nothing, not even itself: before this check the tie loop never advanced.
    let err = roc_auc(&[1.0, f64::NAN, 2.0], &[f64::INFINITY, 3.0]).unwrap_err();
    assert!(
        err.starts_with("2 of the 5 scores are NaN or infinite"),
        "{err}"
    );
    let err = roc_auc(&[], &[1.0]).unwrap_err();
    assert!(err.contains("0 normal and 1 anomalous"), "{err}");
}

#[test]
fn roc_auc_is_the_pairwise_probability() {
    // Against the O(n²) definition on scores with many ties.
    let normal: Vec<f64> = (0..40).map(|i| ((i * 7) % 13) as f64).collect();
    let anomalous: Vec<f64> = (0..25).map(|i| ((i * 5) % 17) as f64).collect();
    let mut wins = 0.0;
    for &a in &anomalous {
        for &n in &normal {
            wins += if a > n {
                1.0
            } else if a == n {
                0.5
            } else {
                0.0
            };
        }
    }
    let want = wins / (normal.len() * anomalous.len()) as f64;
    assert!(close(roc_auc(&normal, &anomalous).unwrap(), want, 1e-12));
}

#[test]
fn decoder_columns_are_the_directions_the_decoder_adds() {
    let dev = Cpu::seed_from_u64(1);
    let m = dev.build_module::<LinearAe<3>, f32>();
    let cols = decoder_columns(&m.1);
    let z = [0.5f32, -1.0, 2.0];
    let out =
        m.1.forward(dev.tensor_from_vec(z.to_vec(), (1, Const::<3>)))
            .as_vec();
    let bias = m.1.bias.as_vec();
    for i in [0, 100, 783] {
        let by_hand = bias[i] as f64 + (0..3).map(|j| z[j] as f64 * cols[j][i]).sum::<f64>();
        assert!(
            close(out[i] as f64, by_hand, 1e-5),
            "{} vs {by_hand}",
            out[i]
        );
    }
}

#[test]
fn squared_error_of_the_model_is_the_formula() {
    let dev = Cpu::seed_from_u64(2);
    let m = dev.build_module::<LinearAe<4>, f32>();
    let test = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
        .test
        .head(3);
    let se = model_squared_errors(&m, &dev, &test, ReconstructionLoss::LinearMse);
    // The MSE per pixel of the same images, times 784.
    let x = dev.tensor_from_vec(test.images.clone(), (3, Const::<PIXELS>));
    let mse = scalar_value(&ReconstructionLoss::LinearMse.loss(m.logits(x.clone()), x)) as f64;
    assert!(close(
        mean(&se),
        mse * PIXELS as f64,
        1e-3 * mse * PIXELS as f64
    ));
}

/// The introduction's and the notation page's caution: the weights of a linear autoencoder are not
/// unique. For any invertible k × k matrix A, the encoder AW₁, Ab₁ with the decoder W₂A⁻¹ (and
/// the same b₂) gives the same reconstructions and the same loss, while the codes become Az.
#[test]
fn linear_ae_is_invariant_under_an_invertible_code_map() {
    const K: usize = 10;
    let dev = Cpu::seed_from_u64(5);
    let m = dev.build_module::<LinearAe<K>, f32>();
    // A random, well-conditioned A = Q₁ diag(d) Q₂ᵀ: two random rotations (the Q of the QR
    // decomposition of a Gaussian matrix) around scales d from 0.5 to 2, so its condition
    // number is 4.
    let rotation = || {
        let g: Tensor<Rank2<K, K>, f32, Cpu> = dev.sample_normal();
        DMatrix::from_row_slice(K, K, &g.as_vec())
            .map(f64::from)
            .qr()
            .q()
    };
    let (q1, q2) = (rotation(), rotation());
    let d = DMatrix::from_fn(K, K, |i, j| {
        if i == j {
            0.5 * 4f64.powf(i as f64 / (K - 1) as f64)
        } else {
            0.0
        }
    });
    let a = q1 * d * q2.transpose();
    let singular = a.singular_values();
    let condition = singular.max() / singular.min();
    assert!(condition < 10.0, "condition number {condition}");
    let a_inv = a.clone().try_inverse().unwrap();
    assert!((&a * &a_inv - DMatrix::<f64>::identity(K, K)).norm() < 1e-10);

    let matrix = |t: Vec<f32>, rows: usize, cols: usize| {
        DMatrix::from_row_slice(rows, cols, &t.iter().map(|&v| v as f64).collect::<Vec<_>>())
    };
    // Row-major f32 values of a matrix (nalgebra stores columns).
    let row_major = |m: DMatrix<f64>| m.transpose().iter().map(|&v| v as f32).collect::<Vec<_>>();
    let w1 = matrix(m.0.weight.as_vec(), K, PIXELS);
    let b1 = matrix(m.0.bias.as_vec(), K, 1);
    let w2 = matrix(m.1.weight.as_vec(), PIXELS, K);
    let mut mapped = m.clone();
    mapped.0.weight = dev.tensor_from_vec(row_major(&a * w1), (Const::<K>, Const::<PIXELS>));
    mapped.0.bias = dev.tensor_from_vec(row_major(&a * b1), (Const::<K>,));
    mapped.1.weight = dev.tensor_from_vec(row_major(w2 * &a_inv), (Const::<PIXELS>, Const::<K>));

    let test = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
        .test
        .head(8);
    let x = dev.tensor_from_vec(test.images.clone(), (8, Const::<PIXELS>));
    // Same reconstructions…
    let before = m.logits(x.clone()).as_vec();
    let after = mapped.logits(x.clone()).as_vec();
    let scale = before.iter().fold(1.0f32, |s, v| s.max(v.abs()));
    let worst = before
        .iter()
        .zip(&after)
        .fold(0.0f32, |w, (p, q)| w.max((p - q).abs()));
    assert!(worst < 1e-5 * scale, "reconstructions differ by {worst}");
    // …and the same loss…
    let loss = |model: &<LinearAe<K> as BuildOnDevice<Cpu, f32>>::Built| {
        scalar_value(&ReconstructionLoss::LinearMse.loss(model.logits(x.clone()), x.clone())) as f64
    };
    assert!(close(loss(&mapped), loss(&m), 1e-6 * loss(&m)));
    // …but other codes: Az instead of z.
    let (z, z_mapped) = (m.encode(x.clone()), mapped.encode(x.clone()));
    // The codes are the rows of a (batch, K) matrix Z, so Az for each is ZAᵀ.
    let az = matrix(z.clone(), 8, K) * a.transpose();
    let gap = (matrix(z_mapped.clone(), 8, K) - az).amax();
    assert!(gap < 1e-4, "the codes are not Az: {gap}");
    let moved = z
        .iter()
        .zip(&z_mapped)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 0.1, "A left the codes unchanged ({moved})");
}

#[test]
fn bce_per_image_matches_the_batch_loss() {
    let dev = Cpu::seed_from_u64(2);
    let m = dev.build_module::<NonlinearAe<2>, f32>();
    let test = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
        .test
        .head(5);
    let per_image = model_bce_per_image(&m, &dev, &test);
    let x = dev.tensor_from_vec(test.images.clone(), (5, Const::<PIXELS>));
    let batch = scalar_value(&bce_with_logits_per_image(m.logits(x.clone()), x)) as f64;
    assert!(close(mean(&per_image), batch, 1e-3));
}

/// Eckart–Young as the chapter states it: on the images PCA was fitted to, the mean squared
/// error per image with k components is (n − 1)/n times the sum of the discarded eigenvalues.
#[test]
fn pca_error_is_the_discarded_variance() {
    let train = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
        .train
        .head(400);
    let n = train.len() as f64;
    let all = Pca::fit(&train.images, PIXELS, PIXELS);
    for k in [0, 1, 10, 50] {
        let error = mean(&pca_squared_errors(&all, &train, k));
        let discarded: f64 = all.variances[k..].iter().sum();
        let want = (n - 1.0) / n * discarded;
        assert!(close(error, want, 1e-6 * want), "k {k}: {error} vs {want}");
    }
}

/// The chapter's tilt argument: turning the k-th principal direction by ε towards the
/// (k+1)-th raises the error per image by (n − 1)/n · sin²ε · (λ_k − λ_{k+1}) ≈ ε²(λ_k − λ_{k+1}).
#[test]
fn tilting_the_pca_subspace_costs_second_order_in_the_angle() {
    let train = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
        .train
        .head(400);
    let n = train.len() as f64;
    let k = 10;
    let pca = Pca::fit(&train.images, PIXELS, k + 1);
    let base = mean(&pca_squared_errors(&pca, &train, k));
    for eps in [0.01f64, 5f64.to_radians(), 0.5] {
        let mut tilted = pca.clone();
        tilted.components[k - 1] = pca.components[k - 1]
            .iter()
            .zip(&pca.components[k])
            .map(|(u, v)| eps.cos() * u + eps.sin() * v)
            .collect();
        let rise = mean(&pca_squared_errors(&tilted, &train, k)) - base;
        let gap = pca.variances[k - 1] - pca.variances[k];
        let want = (n - 1.0) / n * eps.sin().powi(2) * gap;
        assert!(close(rise, want, 1e-6 * base), "ε {eps}: {rise} vs {want}");
    }
}

#[test]
fn split_scores_by_label() {
    let (n, a) = split_scores(&[1.0, 2.0, 3.0], &[4, 7, 4], 4);
    assert_eq!((n, a), (vec![2.0], vec![1.0, 3.0]));
}

/// The regularised objective is its formula: BCE per image between the clean `x` and the
/// reconstruction of `x + σ·ε`, with `ε` the standard normal draw of the device it is given;
/// with `σ = 0` it is the plain loss and draws nothing from the device.
#[test]
fn input_noise_objective_is_the_bce_of_the_corrupted_input_against_the_clean_one() {
    let mut m = Cpu::seed_from_u64(1).build_module::<NonlinearAe<2>, f32>();
    let images = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
        .test
        .head(4)
        .images;
    let (sigma, shape) = (0.3, (4, Const::<PIXELS>));
    let (used, reference) = (Cpu::seed_from_u64(7), Cpu::seed_from_u64(7));
    let x = used.tensor_from_vec(images, shape);

    let grads = m.alloc_grads();
    let got = scalar_value(&bce_with_input_noise(
        &mut m,
        &used,
        x.clone(),
        sigma,
        grads,
    ));
    let eps: Images<Cpu> = reference.sample_normal_like(&shape);
    let noisy = x.clone() + eps * sigma;
    let want = scalar_value(&bce_with_logits_per_image(m.logits(noisy), x.clone()));
    assert!(
        (got - want).abs() <= 1e-5 * want.abs(),
        "{got} against {want}"
    );
    let clean = scalar_value(&bce_with_logits_per_image(m.logits(x.clone()), x.clone()));
    assert!(
        (got - clean).abs() > 1e-3,
        "σ = {sigma} changed nothing: {got}"
    );

    // σ = 0: the clean loss, and the device's generator is left where it was.
    let (used, reference) = (Cpu::seed_from_u64(8), Cpu::seed_from_u64(8));
    let grads = m.alloc_grads();
    let got = scalar_value(&bce_with_input_noise(&mut m, &used, x.clone(), 0.0, grads));
    assert_eq!(got, clean);
    let next: Images<Cpu> = used.sample_normal_like(&shape);
    let first: Images<Cpu> = reference.sample_normal_like(&shape);
    assert_eq!(next.as_vec(), first.as_vec());
}
