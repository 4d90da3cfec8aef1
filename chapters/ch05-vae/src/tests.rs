//! Unit tests of the chapter's formulas against hand values, finite differences and their definitions.
use super::*;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// The closed form in f64: −½ Σ (1 + lv − μ² − e^lv).
fn kl_closed(mu: &[f64], lv: &[f64]) -> f64 {
    -0.5 * mu
        .iter()
        .zip(lv)
        .map(|(m, l)| 1.0 + l - m * m - l.exp())
        .sum::<f64>()
}

fn codes<const Z: usize>(dev: &Cpu, v: &[f32]) -> Codes<Z, Cpu> {
    dev.tensor_from_vec(v.to_vec(), (v.len() / Z, Const::<Z>))
}

#[test]
fn kl_matches_hand_values_and_vanishes_at_the_prior() {
    let dev = Cpu::default();
    // μ = 1, σ² = 1: −½(1 + 0 − 1 − 1) = ½. μ = 0, σ² = 2: −½(1 + ln 2 − 0 − 2) = ½(1 − ln 2).
    let one = kl_to_standard_normal(codes::<1>(&dev, &[1.0]), codes::<1>(&dev, &[0.0])).array();
    assert!((one - 0.5).abs() < 1e-6, "{one}");
    let two =
        kl_to_standard_normal(codes::<1>(&dev, &[0.0]), codes::<1>(&dev, &[2f32.ln()])).array();
    assert!((two as f64 - 0.5 * (1.0 - 2f64.ln())).abs() < 1e-6, "{two}");
    // A batch of two images averages their KLs: (½ + ½(1 − ln 2)) / 2.
    let both = kl_to_standard_normal(
        codes::<1>(&dev, &[1.0, 0.0]),
        codes::<1>(&dev, &[0.0, 2f32.ln()]),
    )
    .array();
    assert!(
        (both as f64 - 0.25 * (2.0 - 2f64.ln())).abs() < 1e-6,
        "{both}"
    );
    // At the prior, μ = 0 and σ² = 1: −½(1 + 0 − 0 − 1) = 0, the case the name promises.
    let prior = kl_to_standard_normal(codes::<1>(&dev, &[0.0]), codes::<1>(&dev, &[0.0])).array();
    assert_eq!(prior, 0.0);
}

#[test]
fn kl_matches_the_closed_form_and_is_zero_at_the_prior() {
    let dev = Cpu::default();
    let (mu, lv) = ([0.5f32, -1.0, 0.0], [0.3f32, -0.7, 1.2]);
    let got = kl_to_standard_normal(codes::<3>(&dev, &mu), codes::<3>(&dev, &lv)).array() as f64;
    let want = kl_closed(&mu.map(f64::from), &lv.map(f64::from));
    // Positive at the first point, the reference and the crate's own value; checked first so
    // that a KL with the wrong sign (the Introduction's pitfall) is reported as such.
    assert!(want > 0.0);
    assert!(got > 0.0, "{got}");
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    let zero =
        kl_to_standard_normal(codes::<3>(&dev, &[0.0; 3]), codes::<3>(&dev, &[0.0; 3])).array();
    assert_eq!(zero, 0.0);
}

#[test]
fn the_crates_kl_agrees_with_a_monte_carlo_estimate() {
    // KL(q ‖ p) = E_q[log q(z) − log p(z)], estimated from n samples of q (sampled directly,
    // not through the crate), against `kl_to_standard_normal` itself; the estimate's
    // standard error is the sample standard deviation over √n; 5 of them.
    let (mu, lv) = ([0.8f64, -0.4, 1.5], [-0.5f64, 0.9, 0.1]);
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(11);
    let n = 200_000;
    let samples: Vec<f64> = (0..n)
        .map(|_| {
            (0..3)
                .map(|j| {
                    let e: f64 = StandardNormal.sample(&mut rng);
                    let z = mu[j] + (0.5 * lv[j]).exp() * e;
                    let log_q = -0.5 * (e * e + lv[j] + LN_2PI);
                    let log_p = -0.5 * (z * z + LN_2PI);
                    log_q - log_p
                })
                .sum()
        })
        .collect();
    let mean = samples.iter().sum::<f64>() / n as f64;
    let sd = (samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let dev = Cpu::default();
    let (mu32, lv32) = (mu.map(|v| v as f32), lv.map(|v| v as f32));
    let crate_kl =
        kl_to_standard_normal(codes::<3>(&dev, &mu32), codes::<3>(&dev, &lv32)).array() as f64;
    assert!(
        (mean - crate_kl).abs() < 5.0 * sd / (n as f64).sqrt(),
        "MC {mean} vs kl_to_standard_normal {crate_kl}"
    );
}

#[test]
fn reparameterized_samples_have_mean_mu_and_variance_sigma_squared() {
    let dev = Cpu::seed_from_u64(5);
    let n = 100_000;
    let (mu, var) = ([1.0f32, -2.0], [4.0f32, 0.25]);
    let mus = codes::<2>(&dev, &mu.repeat(n));
    let lvs = codes::<2>(&dev, &var.map(f32::ln).repeat(n));
    let eps = dev.sample_normal_like(&(n, Const::<2>));
    let z = reparameterize(mus, lvs, eps).as_vec();
    for j in 0..2 {
        let col: Vec<f64> = z.iter().skip(j).step_by(2).map(|&v| v as f64).collect();
        let m = col.iter().sum::<f64>() / n as f64;
        let v = col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        let (mu_j, var_j) = (mu[j] as f64, var[j] as f64);
        assert!(
            (m - mu_j).abs() < 5.0 * (var_j / n as f64).sqrt(),
            "mean {m} vs {mu_j}"
        );
        assert!(
            (v - var_j).abs() < 5.0 * var_j * (2.0 / n as f64).sqrt(),
            "variance {v} vs {var_j}"
        );
    }
}

#[test]
fn gradients_reach_mu_and_logvar() {
    // f(μ, lv) = KL + Σ z², z = μ + e^{lv/2} ε, with ε fixed: dfdx's gradients against central
    // finite differences of the same function in f64.
    let dev = Cpu::default();
    let (mu, lv, eps) = ([0.3f32, -0.8], [0.4f32, -1.1], [1.2f32, -0.5]);
    let f = |m: &[f64], l: &[f64]| -> f64 {
        let z2: f64 = (0..2)
            .map(|j| (m[j] + (0.5 * l[j]).exp() * eps[j] as f64).powi(2))
            .sum();
        kl_closed(m, l) + z2
    };
    let mu_t = codes::<2>(&dev, &mu);
    let lv_t = codes::<2>(&dev, &lv);
    let kl = kl_to_standard_normal(mu_t.leaky_trace(), lv_t.leaky_trace());
    let z = reparameterize(
        mu_t.leaky_trace(),
        lv_t.leaky_trace(),
        codes::<2>(&dev, &eps),
    );
    let g = (kl + z.square().sum::<Rank0, _>()).backward();
    let (gm, gl) = (g.get(&mu_t).as_vec(), g.get(&lv_t).as_vec());
    let (m0, l0) = (mu.map(f64::from), lv.map(f64::from));
    let h = 1e-6;
    for j in 0..2 {
        let (mut up, mut down) = (m0, m0);
        up[j] += h;
        down[j] -= h;
        let fd = (f(&up, &l0) - f(&down, &l0)) / (2.0 * h);
        assert!(
            (gm[j] as f64 - fd).abs() < 1e-4 * fd.abs().max(1.0),
            "∂/∂μ{j}: {} vs {fd}",
            gm[j]
        );
        let (mut up, mut down) = (l0, l0);
        up[j] += h;
        down[j] -= h;
        let fd = (f(&m0, &up) - f(&m0, &down)) / (2.0 * h);
        assert!(
            (gl[j] as f64 - fd).abs() < 1e-4 * fd.abs().max(1.0),
            "∂/∂lv{j}: {} vs {fd}",
            gl[j]
        );
    }
}

#[test]
fn both_encoder_heads_receive_gradients_through_the_model() {
    let dev = Cpu::seed_from_u64(2);
    let mut model = dev.build_module::<Vae<4>, f32>();
    let x = dev.tensor_from_vec(embedded_test_images(2).images, (2, Const::<PIXELS>));
    let eps = dev.sample_normal_like(&(2, Const::<4>));
    let grads = model.alloc_grads();
    let (rec, kl) = elbo_terms(&mut model, x, eps, grads);
    let g = (rec + kl).backward();
    let heads = &model.0 .2 .0;
    let (mu_head, logvar_head) = (&heads.0, &heads.1);
    assert!(
        g.get(&mu_head.bias).as_vec().iter().any(|v| v.abs() > 1e-6),
        "μ head"
    );
    assert!(
        g.get(&logvar_head.bias)
            .as_vec()
            .iter()
            .any(|v| v.abs() > 1e-6),
        "log σ² head"
    );
}

#[test]
fn extreme_log_variances_give_no_nan() {
    let dev = Cpu::seed_from_u64(3);
    for extreme in [1e4f32, -1e4] {
        let mut model = dev.build_module::<Vae<4>, f32>();
        // Push the log-variance head far out by its bias.
        model.0 .2 .0 .1.bias = dev.tensor_from_vec(vec![extreme; 4], (Const::<4>,));
        let x = dev.tensor_from_vec(vec![0.5f32; 2 * PIXELS], (2, Const::<PIXELS>));
        let eps = dev.sample_normal_like(&(2, Const::<4>));
        let grads = model.alloc_grads();
        let (rec, kl) = elbo_terms(&mut model, x, eps, grads);
        let loss = rec + kl;
        assert!(
            loss.array().is_finite(),
            "log σ² = {extreme}: loss {}",
            loss.array()
        );
        let g = loss.backward();
        let heads = &model.0 .2 .0;
        let all_finite = [
            g.get(&model.0 .0.weight).as_vec(),
            g.get(&heads.0.weight).as_vec(),
            g.get(&heads.1.weight).as_vec(),
            g.get(&model.1 .0.weight).as_vec(),
            g.get(&model.1 .2.weight).as_vec(),
        ]
        .iter()
        .all(|v| v.iter().all(|x| x.is_finite()));
        assert!(all_finite, "log σ² = {extreme}: a gradient is not finite");
    }
}

/// Mean of i.i.d. samples and its standard error, the sample standard deviation over √n.
fn mean_and_standard_error(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// The first `n` images of the embedded MNIST test subset.
fn embedded_test_images(n: usize) -> Dataset {
    ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
        .test
        .head(n)
}

/// A `Vae<4>` whose encoder sits off the prior (μ head bias ½, log σ² head bias −1), so that
/// its KL term, and log p(z) − log q(z|x), are far from zero.
fn off_prior_vae(dev: &Cpu) -> Model<4, Cpu> {
    let mut model = dev.build_module::<Vae<4>, f32>();
    model.0 .2 .0 .0.bias = dev.tensor([0.5; 4]);
    model.0 .2 .0 .1.bias = dev.tensor([-1.0; 4]);
    model
}

#[test]
fn importance_estimate_with_one_sample_averages_to_the_elbo() {
    // The page: "with K = 1 its expectation is exactly the ELBO". The K = 1 estimate, averaged
    // over 500 draws for each of 4 images, against −(reconstruction + KL) of `elbo_terms`,
    // averaged over 500 draws of its own; the two means must agree within 5 standard errors
    // of their difference. A sample is the mean over the 4 images of one draw each.
    let dev = Cpu::seed_from_u64(21);
    let mut model = off_prior_vae(&dev);
    let images = embedded_test_images(4);
    let draws = 500;
    let repeated = Dataset {
        images: images.images.repeat(draws),
        labels: images.labels.repeat(draws),
    };
    let log_w = importance_log_likelihood(&model, &dev, &repeated, 1);
    let iw: Vec<f64> = log_w
        .chunks(4)
        .map(|c| c.iter().sum::<f64>() / 4.0)
        .collect();
    let x = dev.tensor_from_vec(images.images.clone(), (4, Const::<PIXELS>));
    let elbo: Vec<f64> = (0..draws)
        .map(|_| {
            let eps = dev.sample_normal_like(&(4, Const::<4>));
            let grads = model.alloc_grads();
            let (rec, kl) = elbo_terms(&mut model, x.clone(), eps, grads);
            -(scalar_value(&rec) as f64 + scalar_value(&kl) as f64)
        })
        .collect();
    let ((m_iw, se_iw), (m_elbo, se_elbo)) =
        (mean_and_standard_error(&iw), mean_and_standard_error(&elbo));
    let se = (se_iw * se_iw + se_elbo * se_elbo).sqrt();
    assert!(
        (m_iw - m_elbo).abs() < 5.0 * se,
        "K = 1 estimate {m_iw} ± {se_iw} vs ELBO {m_elbo} ± {se_elbo}"
    );
}

#[test]
fn importance_log_weight_matches_a_hand_computation() {
    // One log-weight log p(x|z) + log p(z) − log q(z|x), K = 1, computed by hand in f64. With
    // the encoder heads' weights zeroed, μ = (½, −1) and log σ² = (−1, ½) for any image; with
    // the last decoder layer's weights zeroed and its bias 1, every logit is 1 whatever z, so
    // log p(x|z) = −Σᵢ (ln(1 + e) − xᵢ). A twin device, seeded and used alike, draws the same ε.
    let build = |dev: &Cpu| {
        let mut model = dev.build_module::<Vae<2>, f32>();
        model.0 .2 .0 .0.weight = dev.zeros();
        model.0 .2 .0 .0.bias = dev.tensor([0.5, -1.0]);
        model.0 .2 .0 .1.weight = dev.zeros();
        model.0 .2 .0 .1.bias = dev.tensor([-1.0, 0.5]);
        model.1 .2.weight = dev.zeros();
        model.1 .2.bias = dev.ones();
        model
    };
    let (dev, twin) = (Cpu::seed_from_u64(8), Cpu::seed_from_u64(8));
    let model = build(&dev);
    let _ = build(&twin);
    let image = embedded_test_images(1);
    let got = importance_log_likelihood(&model, &dev, &image, 1)[0];
    let eps: Vec<f32> = twin.sample_normal_like(&(1, Const::<2>)).as_vec();
    let (mu, lv) = ([0.5f64, -1.0], [-1.0f64, 0.5]);
    let log_px_z: f64 = image
        .images
        .iter()
        .map(|&x| -((1.0 + 1f64.exp()).ln() - x as f64))
        .sum();
    let log_pz_minus_log_qz: f64 = (0..2)
        .map(|j| {
            let e = eps[j] as f64;
            let z = mu[j] + (0.5 * lv[j]).exp() * e;
            -0.5 * (z * z + LN_2PI) + 0.5 * (e * e + lv[j] + LN_2PI)
        })
        .sum();
    let want = log_px_z + log_pz_minus_log_qz;
    // log p(x|z) is a sum of 784 f32 terms, ≈ −1,000: allow n·2⁻²⁴ ≈ 5·10⁻⁵ of it, the
    // worst-case error of a sequential f32 sum.
    assert!(
        (got - want).abs() < 5e-5 * want.abs(),
        "{got} vs hand {want}"
    );
}

#[test]
fn training_objective_weights_the_kl_term_by_beta() {
    // L = reconstruction + β·KL. Identically seeded devices draw the same ε, so the objective
    // with β = 0 must be `elbo_terms`' reconstruction alone and with β = 2 its
    // reconstruction + 2·KL (f32 arithmetic: 10⁻⁶ relative); the KL is large enough (> 1)
    // that β = 1 could not pass.
    let dev = Cpu::seed_from_u64(6);
    let mut model = off_prior_vae(&dev);
    let images = embedded_test_images(8);
    let x = dev.tensor_from_vec(images.images.clone(), (8, Const::<PIXELS>));
    let noise = || Cpu::seed_from_u64(30);
    let eps = noise().sample_normal_like(&(8, Const::<4>));
    let grads = model.alloc_grads();
    let (rec, kl) = elbo_terms(&mut model, x.clone(), eps, grads);
    let (rec, kl) = (scalar_value(&rec) as f64, scalar_value(&kl) as f64);
    assert!(kl > 1.0, "KL {kl}");
    for (beta, want) in [(0.0, rec), (2.0, rec + 2.0 * kl)] {
        let mut objective = training_objective::<4, Cpu, Model<4, Cpu>>(noise(), beta);
        let batch = Batch {
            x: x.clone(),
            labels: images.labels.clone(),
            indices: (0..8).collect(),
        };
        let grads = model.alloc_grads();
        let got = scalar_value(&objective(&mut model, batch, grads)) as f64;
        assert!(
            (got - want).abs() < 1e-6 * want.abs(),
            "β = {beta}: {got} vs {want}"
        );
    }
}

#[test]
fn log_mean_exp_matches_hand_values() {
    assert!((log_mean_exp(&[0.0, 2f64.ln()]) - 1.5f64.ln()).abs() < 1e-12);
    assert!((log_mean_exp(&[-1000.0, -1000.0 + 3f64.ln()]) - (-1000.0 + 2f64.ln())).abs() < 1e-9);
}
