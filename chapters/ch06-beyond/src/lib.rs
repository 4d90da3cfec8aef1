//! Chapter 6: beyond the tutorials.
//!
//! Three experiments that test what the earlier chapters only claimed:
//!
//! 1. A *linear* autoencoder trained with squared error learns the same subspace as PCA
//!    (measured by the principal angles between the decoder's column space and the top principal
//!    directions), and a nonlinear one reconstructs better with the same code width.
//! 2. The deep 784-1000-500-250-30 autoencoder of Hinton & Salakhutdinov (Science, 2006) against
//!    its PCA-30 baseline, in the paper's metric: squared error summed over the pixels of a test
//!    image, averaged over the test set.
//! 3. Anomaly detection by reconstruction error: train on every digit but one and ask how well
//!    each score (autoencoder BCE, VAE −ELBO, PCA squared error) ranks the held-out digit above
//!    the others (ROC-AUC).
//!
//! PCA comes from [`ae_toolkit::pca`] (nalgebra's symmetric eigensolver); the principal angles
//! from nalgebra's QR and SVD.

use ae_toolkit::batch::{batches, Images};
use ae_toolkit::data::{DataSplits, Dataset, PIXELS};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::{bce_with_logits_per_image, scalar_value, ReconstructionLoss};
use ae_toolkit::model::{build_and_train, reconstruction_loss, Autoencoder};
use ae_toolkit::pca::Pca;
use ae_toolkit::train::{fit, History, Metrics, RunOptions, TrainConfig};
use nalgebra::DMatrix;

/// PCA-30's squared error per MNIST test image in Hinton & Salakhutdinov (2006), Fig. 2B.
pub const PAPER_PCA_30: f64 = 13.87;
/// The deep autoencoder's squared error per MNIST test image in the same figure.
pub const PAPER_DEEP_AE: f64 = 3.00;

// ANCHOR: linear_model
/// A linear autoencoder with a `K`-dimensional code: `z = W₁x + b₁`, `x̂ = W₂z + b₂`, no
/// activation anywhere, trained with squared error.
pub type LinearAe<const K: usize> = (Linear<PIXELS, K>, Linear<K, PIXELS>);
// ANCHOR_END: linear_model

/// Adam's step size for the linear autoencoders: ten times the usual 10⁻³. Under plain gradient
/// descent the directions of small variance would be learned at a rate set by the step size times
/// the gap between neighbouring eigenvalues, which is small; Adam rescales each parameter's step,
/// so that argument only says why a larger step helps, not how much. The linear model is stable
/// at this step size (measured in the chapter's runs).
pub const LINEAR_LEARNING_RATE: f64 = 0.01;

/// The same bottleneck with one ReLU layer of 400 units on each side and a sigmoid output (the
/// shape of Chapter 1's `basic` model, with code width `K`).
pub type NonlinearAe<const K: usize> = (
    (Linear<PIXELS, 400>, ReLU, Linear<400, K>),
    (Linear<K, 400>, ReLU, Linear<400, PIXELS>),
);

// ANCHOR: deep_model
/// Hinton & Salakhutdinov's encoder, 784-1000-500-250-30, with ReLU where the paper had
/// logistic units (and no RBM pretraining), and a linear 30-dimensional code as in the paper.
pub type DeepEncoder = (
    (Linear<PIXELS, 1000>, ReLU),
    (Linear<1000, 500>, ReLU),
    (Linear<500, 250>, ReLU),
    Linear<250, 30>,
);
/// The mirror-image decoder, 30-250-500-1000-784, ending in logits of the pixels.
pub type DeepDecoder = (
    (Linear<30, 250>, ReLU),
    (Linear<250, 500>, ReLU),
    (Linear<500, 1000>, ReLU),
    Linear<1000, PIXELS>,
);
/// The deep autoencoder.
pub type Deep = (DeepEncoder, DeepDecoder);
// ANCHOR_END: deep_model

// ANCHOR: squared_error
/// The paper's metric for each image: `Σᵢ (x̂ᵢ − xᵢ)²` over the 784 pixels (pixels in `[0, 1]`).
/// `reconstructions` and `images` are row-major with 784 values per image.
///
/// ```
/// use ae_toolkit::data::PIXELS;
/// let images = vec![0.0f32; 2 * PIXELS];
/// let mut rec = vec![0.0f64; 2 * PIXELS];
/// rec[PIXELS] = 0.5; // one pixel of the second image off by ½
/// assert_eq!(ch06_beyond::squared_error_per_image(&rec, &images), vec![0.0, 0.25]);
/// ```
pub fn squared_error_per_image(reconstructions: &[f64], images: &[f32]) -> Vec<f64> {
    assert_eq!(
        reconstructions.len(),
        images.len(),
        "one reconstruction per image"
    );
    reconstructions
        .chunks(PIXELS)
        .zip(images.chunks(PIXELS))
        .map(|(r, x)| r.iter().zip(x).map(|(r, &x)| (r - x as f64).powi(2)).sum())
        .collect()
}
// ANCHOR_END: squared_error

/// The mean of a sample (0 for an empty one).
///
/// ```
/// assert_eq!(ch06_beyond::mean(&[1.0, 2.0, 6.0]), 3.0);
/// ```
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Squared error per image of PCA with `k` components on `data`.
///
/// ```
/// use ae_toolkit::{data::{embedded, DatasetKind, PIXELS}, pca::Pca};
/// let data = embedded(DatasetKind::Mnist);
/// let pca = Pca::fit(&data.train.head(500).images, PIXELS, 10);
/// let test = data.test.head(50);
/// let e = |k| ch06_beyond::mean(&ch06_beyond::pca_squared_errors(&pca, &test, k));
/// // More components, less error; none at all leaves the mean image.
/// assert!(e(10) < e(5) && e(5) < e(0));
/// ```
pub fn pca_squared_errors(pca: &Pca, data: &Dataset, k: usize) -> Vec<f64> {
    squared_error_per_image(&pca.reconstruct(&data.images, k), &data.images)
}

/// Squared error per image of an autoencoder whose output is `output` of its logits.
pub fn model_squared_errors<M: Autoencoder<D>, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &Dataset,
    output: ReconstructionLoss,
) -> Vec<f64> {
    batches(dev, data, 1000, None)
        .flat_map(|b| {
            let rec: Vec<f64> = output
                .output(model.logits(b.x.clone()))
                .as_vec()
                .into_iter()
                .map(f64::from)
                .collect();
            squared_error_per_image(&rec, &b.x.as_vec())
        })
        .collect()
}

/// Binary cross-entropy summed over the pixels of each image (sigmoid output).
pub fn model_bce_per_image<M: Autoencoder<D>, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &Dataset,
) -> Vec<f64> {
    batches(dev, data, 1000, None)
        .flat_map(|b| {
            model
                .logits(b.x.clone())
                .bce_with_logits(b.x)
                .sum::<(usize,), _>()
                .as_vec()
                .into_iter()
                .map(f64::from)
        })
        .collect()
}

/// The columns of a linear decoder's weight, one `PIXELS`-long vector per code dimension: the
/// directions the decoder adds up (`x̂ = b₂ + Σⱼ zⱼ wⱼ`). dfdx stores the weight `(out, in)`.
pub fn decoder_columns<const K: usize, D: Device<f32>>(
    decoder: &ae_toolkit::dfdx::nn::modules::Linear<K, PIXELS, f32, D>,
) -> Vec<Vec<f64>> {
    let w = decoder.weight.as_vec();
    (0..K)
        .map(|j| (0..PIXELS).map(|i| w[i * K + j] as f64).collect())
        .collect()
}

// BEGIN SOLUTION principal_angles
// ANCHOR: principal_angles
/// The principal angles (radians, smallest first) between the subspaces spanned by `a` and `b`,
/// each a set of linearly independent vectors of one length: with `Q_a`, `Q_b` orthonormal
/// bases (QR), the cosines of the angles are the singular values of `Q_aᵀ Q_b`.
pub fn principal_angles(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<f64> {
    let basis = |vs: &[Vec<f64>]| {
        let dim = vs[0].len();
        let m = DMatrix::from_fn(dim, vs.len(), |i, j| vs[j][i]);
        m.qr().q()
    };
    let (qa, qb) = (basis(a), basis(b));
    let cosines = (qa.transpose() * qb).singular_values();
    let mut angles: Vec<f64> = cosines.iter().map(|c| c.clamp(-1.0, 1.0).acos()).collect();
    angles.sort_by(f64::total_cmp);
    angles
}
// ANCHOR_END: principal_angles
// END SOLUTION

// BEGIN SOLUTION roc_auc
// ANCHOR: roc_auc
/// The area under the ROC curve of a score that should be higher for `anomalous` than for
/// `normal` items: the probability that a random anomalous item outscores a random normal one,
/// ties counting one half (the Mann–Whitney statistic, from mid-ranks of the pooled scores).
///
/// An error, not a number, when either kind is empty or a score is NaN or infinite: a NaN has no
/// rank (it equals nothing, not even itself), so no area can be computed.
pub fn roc_auc(normal: &[f64], anomalous: &[f64]) -> Result<f64, String> {
    if normal.is_empty() || anomalous.is_empty() {
        return Err(format!(
            "ROC-AUC needs items of both kinds (got {} normal and {} anomalous)",
            normal.len(),
            anomalous.len()
        ));
    }
    let bad = normal.iter().chain(anomalous).filter(|s| !s.is_finite());
    let bad = bad.count();
    if bad > 0 {
        return Err(format!(
            "{bad} of the {} scores are NaN or infinite; ROC-AUC needs finite scores (a model \
             that diverged gives such scores: retrain it with a lower learning rate)",
            normal.len() + anomalous.len()
        ));
    }
    let mut pooled: Vec<(f64, bool)> = normal
        .iter()
        .map(|&s| (s, false))
        .chain(anomalous.iter().map(|&s| (s, true)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Sum of the anomalous items' ranks (1-based), tied scores sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < pooled.len() {
        let mut end = start;
        while end < pooled.len() && pooled[end].0 == pooled[start].0 {
            end += 1;
        }
        let mid_rank = (start + 1 + end) as f64 / 2.0;
        rank_sum += mid_rank * pooled[start..end].iter().filter(|p| p.1).count() as f64;
        start = end;
    }
    let (n_a, n_n) = (anomalous.len() as f64, normal.len() as f64);
    Ok((rank_sum - n_a * (n_a + 1.0) / 2.0) / (n_a * n_n))
}
// ANCHOR_END: roc_auc
// END SOLUTION

/// The training images of every digit but `digit`; the test set stays whole, so that it holds
/// both the digits the model knows and the one it has never seen.
///
/// ```
/// use ae_toolkit::data::{embedded, DatasetKind};
/// let data = embedded(DatasetKind::Mnist);
/// let split = ch06_beyond::without_digit(&data, 3);
/// assert!(!split.train.labels.contains(&3));
/// assert_eq!(split.train.len(), data.train.labels.iter().filter(|&&l| l != 3).count());
/// assert_eq!(split.test, data.test);
/// ```
pub fn without_digit(data: &DataSplits, digit: u8) -> DataSplits {
    let keep: Vec<usize> = (0..data.train.len())
        .filter(|&i| data.train.labels[i] != digit)
        .collect();
    DataSplits {
        train: data.train.select(&keep),
        ..data.clone()
    }
}

/// Splits per-image scores of a test set into (normal, anomalous) by whether the label is
/// `digit`.
pub fn split_scores(scores: &[f64], labels: &[u8], digit: u8) -> (Vec<f64>, Vec<f64>) {
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for (&s, &l) in scores.iter().zip(labels) {
        if l == digit {
            anomalous.push(s)
        } else {
            normal.push(s)
        }
    }
    (normal, anomalous)
}

/// Trains a linear autoencoder with squared error (a linear output, pixels in `[0, 1]`); the
/// test metric is the MSE per pixel.
pub fn train_linear<const K: usize, D: Device<f32>>(
    dev: &D,
    data: &DataSplits,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<(<LinearAe<K> as BuildOnDevice<D, f32>>::Built, History)> {
    build_and_train::<LinearAe<K>, D>(dev, data, ReconstructionLoss::LinearMse, cfg, run)
}

// ANCHOR: input_noise
/// The deep autoencoder's training loss on a batch `x`: binary cross-entropy per image between
/// the clean `x` and the reconstruction of `x̃ = x + σ·ε`, `ε ~ N(0, 1)` per pixel, drawn afresh
/// from `dev`'s generator at every step (Chapter 3's Gaussian corruption, here as a
/// regulariser). With `σ = 0` nothing is drawn and this is the plain reconstruction loss.
pub fn bce_with_input_noise<M: Autoencoder<D>, D: Device<f32>>(
    model: &mut M,
    dev: &D,
    x: Images<D>,
    sigma: f32,
    grads: Gradients<f32, D>,
) -> Tensor<Rank0, f32, D, OwnedTape<f32, D>> {
    if sigma == 0.0 {
        return reconstruction_loss(model, x, grads, ReconstructionLoss::BcePerImage);
    }
    let noise: Images<D> = dev.sample_normal_like(x.shape());
    let noisy = x.clone() + noise * sigma;
    bce_with_logits_per_image(model.logits_traced(noisy.traced(grads)), x)
}
// ANCHOR_END: input_noise

/// Trains an autoencoder with binary cross-entropy per image (as the paper did, with a sigmoid
/// output; inputs corrupted with Gaussian noise of standard deviation `input_noise`, 0 for
/// none, see [`bce_with_input_noise`]) and scores it in the paper's metric: the test loss
/// recorded each epoch is the squared error per clean test image, with the BCE per image as a
/// part.
pub fn train_bce_scored_by_squared_error<M: Autoencoder<D>, D: Device<f32>>(
    model: &mut M,
    dev: &D,
    data: &DataSplits,
    cfg: &TrainConfig,
    input_noise: f32,
    run: &RunOptions,
) -> anyhow::Result<History> {
    fit(
        model,
        dev,
        data,
        cfg,
        run,
        |m, batch, grads| bce_with_input_noise(m, dev, batch.x, input_noise, grads),
        |m, batch| {
            let logits: Images<D> = m.logits(batch.x.clone());
            let bce =
                scalar_value(&bce_with_logits_per_image(logits.clone(), batch.x.clone())) as f64;
            let se = (logits.sigmoid() - batch.x.clone())
                .square()
                .sum::<(usize,), _>()
                .mean();
            Metrics {
                loss: scalar_value(&se) as f64,
                parts: vec![("bce".into(), bce)],
            }
        },
    )
}

/// The −ELBO of each image under a trained VAE, averaged over `samples` draws of the
/// reparameterized code (each draw is a single-sample ELBO estimate).
pub fn vae_negative_elbo<const Z: usize, D: Device<f32>>(
    model: &ch05_vae::Model<Z, D>,
    dev: &D,
    data: &Dataset,
    samples: usize,
) -> Vec<f64> {
    assert!(samples > 0, "the ELBO needs at least one sample");
    let mut total = vec![0.0; data.len()];
    for _ in 0..samples {
        // With K = 1 the importance weight's log is the single-sample ELBO.
        let elbo = ch05_vae::importance_log_likelihood(model, dev, data, 1);
        total.iter_mut().zip(elbo).for_each(|(t, e)| *t -= e);
    }
    total.iter().map(|t| t / samples as f64).collect()
}

#[cfg(test)]
mod tests;
