//! Chapter 5: the variational autoencoder.
//!
//! The encoder outputs a Gaussian `q(z|x) = N(μ, diag σ²)` through two heads, `(μ, log σ²)`; a
//! code is sampled with the reparameterization trick `z = μ + σ ⊙ ε, ε ~ N(0, I)`; the decoder
//! gives Bernoulli pixel probabilities. Training minimises the negative ELBO per image:
//! `BCE(x, x̂) + β · KL(q(z|x) ‖ N(0, I))`, with the KL in closed form
//! `−½ Σⱼ (1 + log σⱼ² − μⱼ² − σⱼ²)`. Everything else comes from [`ae_toolkit`].

use ae_toolkit::batch::{Batch, Images};
use ae_toolkit::data::{DataSplits, Dataset, PIXELS};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::{bce_with_logits_per_image, scalar_value};
use ae_toolkit::model::Codes;
use ae_toolkit::train::{fit, History, Metrics, RunOptions, TapedLoss, TrainConfig};
use statrs::distribution::{ContinuousCDF, Normal};

/// Width of the main model's code.
pub const LATENT: usize = 20;

// ANCHOR: model
/// Encoder: 784 → 400 (ReLU), then two heads of width `Z`: the mean μ and the log-variance
/// log σ² of q(z|x). `SplitInto` feeds the same hidden layer to both heads.
pub type VaeEncoder<const Z: usize> = (
    Linear<784, 400>,
    ReLU,
    SplitInto<(Linear<400, Z>, Linear<400, Z>)>,
);
/// Decoder: Z → 400 (ReLU) → 784 logits of Bernoulli pixel probabilities.
pub type VaeDecoder<const Z: usize> = (Linear<Z, 400>, ReLU, Linear<400, 784>);
/// The VAE with a `Z`-dimensional latent space.
pub type Vae<const Z: usize> = (VaeEncoder<Z>, VaeDecoder<Z>);
// ANCHOR_END: model

/// The built model on device `D`.
pub type Model<const Z: usize, D> = <Vae<Z> as BuildOnDevice<D, f32>>::Built;

/// log σ² is clamped to `[−LOGVAR_LIMIT, LOGVAR_LIMIT]` before it is exponentiated: σ² then
/// stays within `[e⁻³⁰, e³⁰]` ≈ `[9 · 10⁻¹⁴, 10¹³]`, finite in f32, so neither the KL term nor
/// `σ = exp(½ log σ²)` can overflow to infinity (and then NaN) on a wild early step. Outside the
/// interval the clamp passes no gradient; the trained model never goes there.
pub const LOGVAR_LIMIT: f32 = 30.0;

// BEGIN SOLUTION kl_to_standard_normal
// ANCHOR: kl
/// `KL(N(μ, diag σ²) ‖ N(0, I)) = −½ Σⱼ (1 + log σⱼ² − μⱼ² − σⱼ²)` for each image, averaged over
/// the batch. Non-negative, and zero exactly when μ = 0 and σ² = 1.
pub fn kl_to_standard_normal<const Z: usize, D: Device<f32>, T: Tape<f32, D> + Default>(
    mu: Codes<Z, D, T>,
    logvar: Codes<Z, D, T>,
) -> Tensor<Rank0, f32, D, T> {
    let var = logvar.with_empty_tape().exp();
    let per_dim = (logvar + 1.0 - mu.square() - var) * -0.5;
    per_dim.sum::<(usize,), _>().mean()
}
// ANCHOR_END: kl
// END SOLUTION

// BEGIN SOLUTION reparameterize
// ANCHOR: reparameterize
/// The reparameterization trick: `z = μ + exp(½ log σ²) ⊙ ε` with `ε ~ N(0, I)` drawn outside
/// the model, so `z` is a differentiable function of μ and log σ².
pub fn reparameterize<const Z: usize, D: Device<f32>, T: Tape<f32, D>>(
    mu: Codes<Z, D, T>,
    logvar: Codes<Z, D, T>,
    eps: Codes<Z, D>,
) -> Codes<Z, D, T> {
    mu + (logvar * 0.5).exp() * eps
}
// ANCHOR_END: reparameterize
// END SOLUTION

/// A variational autoencoder with a `Z`-dimensional latent space, stored as the dfdx tuple
/// `(encoder, decoder)`: the encoder maps a batch of images to the two heads (μ, log σ²) of
/// q(z|x), the decoder maps codes to the logits of Bernoulli pixel probabilities.
///
/// Implemented for every such tuple, whatever its layers, so this chapter's MLP ([`Vae`]) and
/// Chapter 7's convolutional VAE share [`elbo_terms`], [`training_objective`], [`train_model`],
/// [`encode`], [`decode`] and [`importance_log_likelihood`] instead of each having a copy.
///
/// ```
/// use ae_toolkit::data::PIXELS;
/// use ae_toolkit::dfdx::prelude::*;
/// use ch05_vae::{Vae, VariationalAutoencoder};
/// fn latent<const Z: usize, M: VariationalAutoencoder<Z, Cpu>>(_: &M) -> usize {
///     Z
/// }
/// let dev = Cpu::seed_from_u64(0);
/// let model = dev.build_module::<Vae<3>, f32>();
/// assert_eq!(latent(&model), 3);
/// let x = dev.zeros_like(&(2, Const::<PIXELS>));
/// let (mu, logvar) = model.posterior(x);
/// assert_eq!((mu.shape().concrete(), logvar.shape().concrete()), ([2, 3], [2, 3]));
/// assert_eq!(model.decoder_logits(mu).shape().concrete(), [2, PIXELS]);
/// ```
pub trait VariationalAutoencoder<const Z: usize, D: Device<f32>>: TensorCollection<f32, D> {
    /// μ and log σ² of q(z|x) for a batch, without a tape (log σ² not yet clamped).
    fn posterior(&self, x: Images<D>) -> (Codes<Z, D>, Codes<Z, D>);
    /// μ and log σ² of q(z|x), the encoder run with `forward_mut` on the tape carried by `x`.
    fn posterior_traced(&mut self, x: Images<D, OwnedTape<f32, D>>) -> TracedPosterior<Z, D>;
    /// Logits of the pixel probabilities decoded from codes `z`, without a tape.
    fn decoder_logits(&self, z: Codes<Z, D>) -> Images<D>;
    /// Logits decoded from codes `z`, recording on the tape `z` carries.
    fn decoder_logits_traced(
        &mut self,
        z: Codes<Z, D, OwnedTape<f32, D>>,
    ) -> Images<D, OwnedTape<f32, D>>;
}

/// (μ, log σ²) of a batch, both recording on the training tape.
pub type TracedPosterior<const Z: usize, D> = (
    Codes<Z, D, OwnedTape<f32, D>>,
    Codes<Z, D, OwnedTape<f32, D>>,
);

impl<E, Dec, D, const Z: usize> VariationalAutoencoder<Z, D> for (E, Dec)
where
    D: Device<f32>,
    E: TensorCollection<f32, D>
        + Module<Images<D>, Output = (Codes<Z, D>, Codes<Z, D>)>
        + ModuleMut<Images<D, OwnedTape<f32, D>>, Output = TracedPosterior<Z, D>>,
    Dec: TensorCollection<f32, D>
        + Module<Codes<Z, D>, Output = Images<D>>
        + ModuleMut<Codes<Z, D, OwnedTape<f32, D>>, Output = Images<D, OwnedTape<f32, D>>>,
{
    fn posterior(&self, x: Images<D>) -> (Codes<Z, D>, Codes<Z, D>) {
        self.0.forward(x)
    }
    fn posterior_traced(&mut self, x: Images<D, OwnedTape<f32, D>>) -> TracedPosterior<Z, D> {
        self.0.forward_mut(x)
    }
    fn decoder_logits(&self, z: Codes<Z, D>) -> Images<D> {
        self.1.forward(z)
    }
    fn decoder_logits_traced(
        &mut self,
        z: Codes<Z, D, OwnedTape<f32, D>>,
    ) -> Images<D, OwnedTape<f32, D>> {
        self.1.forward_mut(z)
    }
}

/// The negative ELBO's two terms for a batch, given the noise `eps`: (reconstruction, KL), each
/// per image averaged over the batch. The loss is `reconstruction + β · KL`.
pub fn elbo_terms<const Z: usize, D: Device<f32>, M: VariationalAutoencoder<Z, D>>(
    model: &mut M,
    x: Images<D>,
    eps: Codes<Z, D>,
    grads: Gradients<f32, D>,
) -> (TapedLoss<D>, TapedLoss<D>) {
    // ANCHOR: elbo
    let (mu, logvar) = model.posterior_traced(x.clone().traced(grads));
    let logvar = logvar.clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT);
    // μ and log σ² feed both the KL and the sample; `with_empty_tape` gives second handles
    // whose operations join the same tape.
    let kl = kl_to_standard_normal(mu.with_empty_tape(), logvar.with_empty_tape());
    let z = reparameterize(mu, logvar, eps);
    let reconstruction = bce_with_logits_per_image(model.decoder_logits_traced(z), x);
    // ANCHOR_END: elbo
    (reconstruction, kl)
}

/// The training objective [`train`] hands to `fit`: the negative ELBO with weight `beta` on the
/// KL term, `reconstruction + β · KL`, on fresh noise ε drawn from `dev` for every batch.
/// The benchmarks call this too, so they time exactly what the chapter trains.
pub fn training_objective<const Z: usize, D: Device<f32>, M: VariationalAutoencoder<Z, D>>(
    dev: D,
    beta: f32,
) -> impl FnMut(&mut M, Batch<D>, Gradients<f32, D>) -> TapedLoss<D> {
    move |model, batch, grads| {
        let eps = dev.sample_normal_like(&(batch.len(), Const::<Z>));
        let (reconstruction, kl) = elbo_terms(model, batch.x, eps, grads);
        reconstruction + kl * beta
    }
}

/// Mean and log-variance of q(z|x) for a batch, without a tape.
pub fn encode<const Z: usize, D: Device<f32>, M: VariationalAutoencoder<Z, D>>(
    model: &M,
    x: Images<D>,
) -> (Codes<Z, D>, Codes<Z, D>) {
    let (mu, logvar) = model.posterior(x);
    (mu, logvar.clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT))
}

/// Pixel probabilities decoded from codes `z` (row-major, `Z` per code).
pub fn decode<const Z: usize, D: Device<f32>, M: VariationalAutoencoder<Z, D>>(
    model: &M,
    dev: &D,
    z: &[f32],
) -> Vec<f32> {
    let codes = dev.tensor_from_vec(z.to_vec(), (z.len() / Z, Const::<Z>));
    model.decoder_logits(codes).sigmoid().as_vec()
}

/// Trains a new VAE of this chapter ([`Vae`]) with weight `beta` on the KL term; see
/// [`train_model`].
pub fn train<const Z: usize, D: Device<f32>>(
    dev: &D,
    data: &DataSplits,
    beta: f32,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<(Model<Z, D>, History)> {
    let mut model = Vae::<Z>::build_on_device(dev);
    let history = train_model(&mut model, dev, data, beta, cfg, run)?;
    Ok((model, history))
}

/// Trains `model`, any [`VariationalAutoencoder`], with weight `beta` on the KL term. The test
/// metric is the negative ELBO per image (with β = 1, whatever the training β), with its two
/// terms as parts; the test noise is drawn once, so every epoch is scored on the same samples.
pub fn train_model<const Z: usize, D: Device<f32>, M: VariationalAutoencoder<Z, D>>(
    model: &mut M,
    dev: &D,
    data: &DataSplits,
    beta: f32,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<History> {
    let test_eps: Vec<f32> = dev
        .sample_normal_like(&(data.test.len(), Const::<Z>))
        .as_vec();
    fit(
        model,
        dev,
        data,
        cfg,
        run,
        training_objective(dev.clone(), beta),
        |m, batch| {
            let eps = batch
                .indices
                .iter()
                .flat_map(|&i| test_eps[i * Z..(i + 1) * Z].to_vec())
                .collect();
            let eps = dev.tensor_from_vec(eps, (batch.len(), Const::<Z>));
            let (mu, logvar) = encode(m, batch.x.clone());
            let kl = scalar_value(&kl_to_standard_normal(mu.clone(), logvar.clone())) as f64;
            let z = reparameterize(mu, logvar, eps);
            let rec = scalar_value(&bce_with_logits_per_image(
                m.decoder_logits(z),
                batch.x.clone(),
            )) as f64;
            Metrics {
                loss: rec + kl,
                parts: vec![("reconstruction".into(), rec), ("kl".into(), kl)],
            }
        },
    )
}

/// Codes of an `n`×`n` grid over a 2-D latent plane, row by row from the top (z₂ falling down
/// the rows, z₁ rising along them), for decoding into the picture of the learnt manifold. The
/// grid is even in probability, not in z: the cell centres `(i + ½)/n` go through the inverse
/// CDF of the standard normal prior, so every cell covers the same prior mass.
///
/// ```
/// let codes = ch05_vae::manifold_codes(2);
/// // Quantiles 1/4 and 3/4 of N(0, 1): ±0.6745; the top-left cell is (z₁, z₂) = (−0.67, 0.67).
/// assert!((codes[0] + 0.6745).abs() < 1e-4 && (codes[1] - 0.6745).abs() < 1e-4);
/// assert_eq!(codes.len(), 2 * 2 * 2);
/// ```
pub fn manifold_codes(n: usize) -> Vec<f32> {
    let normal = Normal::new(0.0, 1.0).expect("standard normal");
    let quantile = |i: usize| normal.inverse_cdf((i as f64 + 0.5) / n as f64) as f32;
    let mut grid = Vec::with_capacity(2 * n * n);
    for row in 0..n {
        for col in 0..n {
            grid.extend([quantile(col), quantile(n - 1 - row)]);
        }
    }
    grid
}

// BEGIN SOLUTION log_mean_exp
/// `log((1/K) Σₖ exp(aₖ))`, computed stably.
///
/// ```
/// let v = ch05_vae::log_mean_exp(&[0.0, 0.0]);
/// assert!(v.abs() < 1e-12);
/// assert!((ch05_vae::log_mean_exp(&[1000.0, 1000.0]) - 1000.0).abs() < 1e-9);
/// ```
pub fn log_mean_exp(a: &[f64]) -> f64 {
    let max = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    max + (a.iter().map(|v| (v - max).exp()).sum::<f64>() / a.len() as f64).ln()
}
// END SOLUTION

const LN_2PI: f64 = 1.837_877_066_409_345_5;

// ANCHOR: importance
/// Importance-sampled estimate of `log p(x)` for each image of `data`, with `k` samples from
/// q(z|x): `log (1/K) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|x)`. In expectation a lower bound of log p(x)
/// that tightens as K grows (a single estimate can land above); with K = 1 its expectation is the
/// ELBO. Panics if `k` is 0.
pub fn importance_log_likelihood<
    const Z: usize,
    D: Device<f32>,
    M: VariationalAutoencoder<Z, D>,
>(
    model: &M,
    dev: &D,
    data: &Dataset,
    k: usize,
) -> Vec<f64> {
    assert!(k > 0, "importance sampling needs at least one sample");
    let mut out = Vec::with_capacity(data.len());
    for i in 0..data.len() {
        let x = dev.tensor_from_vec(data.image(i).to_vec(), (1, Const::<PIXELS>));
        let (mu, logvar) = encode(model, x);
        let (mu, logvar) = (mu.as_vec(), logvar.as_vec());
        let eps = dev.sample_normal_like(&(k, Const::<Z>)).as_vec();
        let z: Vec<f32> = eps
            .iter()
            .enumerate()
            .map(|(n, e)| mu[n % Z] + (0.5 * logvar[n % Z]).exp() * e)
            .collect();
        let target = dev.tensor_from_vec(data.image(i).repeat(k), (k, Const::<PIXELS>));
        let logits = model.decoder_logits(dev.tensor_from_vec(z.clone(), (k, Const::<Z>)));
        // −BCE summed over pixels is log p(x|z) of the Bernoulli decoder.
        let log_px_z = logits.bce_with_logits(target).sum::<(usize,), _>().as_vec();
        let log_weights: Vec<f64> = (0..k)
            .map(|s| {
                let (mut log_pz, mut log_qz) = (0.0, 0.0);
                for j in 0..Z {
                    let (zj, e, lv) =
                        (z[s * Z + j] as f64, eps[s * Z + j] as f64, logvar[j] as f64);
                    log_pz += -0.5 * (zj * zj + LN_2PI);
                    log_qz += -0.5 * (e * e + lv + LN_2PI);
                }
                -(log_px_z[s] as f64) + log_pz - log_qz
            })
            .collect();
        out.push(log_mean_exp(&log_weights));
    }
    out
}
// ANCHOR_END: importance

#[cfg(test)]
mod tests {
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
        let prior =
            kl_to_standard_normal(codes::<1>(&dev, &[0.0]), codes::<1>(&dev, &[0.0])).array();
        assert_eq!(prior, 0.0);
    }

    #[test]
    fn kl_matches_the_closed_form_and_is_zero_at_the_prior() {
        let dev = Cpu::default();
        let (mu, lv) = ([0.5f32, -1.0, 0.0], [0.3f32, -0.7, 1.2]);
        let got =
            kl_to_standard_normal(codes::<3>(&dev, &mu), codes::<3>(&dev, &lv)).array() as f64;
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
        assert!(
            (log_mean_exp(&[-1000.0, -1000.0 + 3f64.ln()]) - (-1000.0 + 2f64.ln())).abs() < 1e-9
        );
    }
}
