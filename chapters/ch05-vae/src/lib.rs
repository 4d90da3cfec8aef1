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
mod tests;
