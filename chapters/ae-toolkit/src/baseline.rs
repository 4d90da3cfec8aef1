//! What a model must beat to have learned anything: the losses of reconstructions that need no
//! training — every test image replaced by the mean training image, or by its PCA
//! reconstruction with as many components as the model's code is wide.
//!
//! A convergence test that only asks for "much lower than the untrained loss" passes for a model
//! that has learned the mean image and nothing else; these baselines do not.

use crate::data::{Dataset, PIXELS};
use crate::losses::ReconstructionLoss;
use crate::pca::Pca;

/// Sigmoid outputs never reach 0 or 1 exactly; a baseline image is kept as far from them as a
/// logit of ±13.8 keeps the model's, so its BCE stays finite and comparable.
const EDGE: f64 = 1e-6;

/// The loss `loss` gives to `reconstructions` (row-major images, in the output's range: `[0, 1]`
/// for sigmoid outputs, the data's range for a linear one) against `targets`, reduced the way
/// [`ReconstructionLoss::loss`] reduces it, computed in f64.
///
/// ```
/// use ae_toolkit::{baseline::loss_of_images, losses::ReconstructionLoss};
/// use dfdx::prelude::*;
/// // The same number as the model's loss on the logits of these reconstructions.
/// let (outputs, targets) = ([0.25f32, 0.5, 0.9, 0.1], [0.0f32, 1.0, 1.0, 0.0]);
/// let dev = Cpu::default();
/// let logits: Vec<f32> = outputs.iter().map(|p| (p / (1.0 - p)).ln()).collect();
/// let logits = dev.tensor_from_vec(logits, (2, Const::<2>));
/// let x = dev.tensor_from_vec(targets.to_vec(), (2, Const::<2>));
/// for loss in [ReconstructionLoss::BcePerImage, ReconstructionLoss::BcePerPixel, ReconstructionLoss::SigmoidMse] {
///     let want = loss.loss(logits.clone(), x.clone()).array() as f64;
///     let got = loss_of_images(loss, &outputs, &targets, 2);
///     assert!((got - want).abs() < 1e-6, "{loss:?}: {got} vs {want}");
/// }
/// ```
pub fn loss_of_images(
    loss: ReconstructionLoss,
    reconstructions: &[f32],
    targets: &[f32],
    pixels_per_image: usize,
) -> f64 {
    assert_eq!(
        reconstructions.len(),
        targets.len(),
        "one reconstruction per target"
    );
    let per_pixel = |r: f32, x: f32| -> f64 {
        let (r, x) = (r as f64, x as f64);
        match loss {
            ReconstructionLoss::BcePerImage | ReconstructionLoss::BcePerPixel => {
                let p = r.clamp(EDGE, 1.0 - EDGE);
                -(x * p.ln() + (1.0 - x) * (1.0 - p).ln())
            }
            ReconstructionLoss::SigmoidMse | ReconstructionLoss::LinearMse => (r - x).powi(2),
        }
    };
    let total: f64 = reconstructions
        .iter()
        .zip(targets)
        .map(|(&r, &x)| per_pixel(r, x))
        .sum();
    match loss {
        ReconstructionLoss::BcePerImage => total / (targets.len() / pixels_per_image) as f64,
        _ => total / targets.len() as f64,
    }
}

/// The loss of reconstructing every test image as the mean training image.
///
/// ```
/// use ae_toolkit::{baseline::mean_image_loss, data::{embedded, DatasetKind}, losses::ReconstructionLoss};
/// let d = embedded(DatasetKind::Mnist);
/// // The mean image's squared error per pixel is close to the pixels' average variance.
/// let mse = mean_image_loss(ReconstructionLoss::SigmoidMse, &d.train, &d.test);
/// assert!(mse > 0.05 && mse < 0.12, "{mse}");
/// ```
pub fn mean_image_loss(loss: ReconstructionLoss, train: &Dataset, test: &Dataset) -> f64 {
    let mut mean = vec![0.0f64; PIXELS];
    for i in 0..train.len() {
        mean.iter_mut()
            .zip(train.image(i))
            .for_each(|(m, &p)| *m += p as f64);
    }
    let mean: Vec<f32> = mean
        .iter()
        .map(|m| (m / train.len() as f64) as f32)
        .collect();
    let reconstructions = mean.repeat(test.len());
    loss_of_images(loss, &reconstructions, &test.images, PIXELS)
}

/// The loss of reconstructing every test image from its first `k` principal components, fitted on
/// the training images (for sigmoid outputs, clamped into `[0, 1]` first, which only helps).
///
/// ```
/// use ae_toolkit::{baseline::{mean_image_loss, pca_loss}, data::{embedded, DatasetKind}, losses::ReconstructionLoss};
/// let d = embedded(DatasetKind::Mnist);
/// let (train, test) = (d.train.head(500), d.test.head(100));
/// let mse = |k| pca_loss(ReconstructionLoss::SigmoidMse, &train, &test, k);
/// // More components, smaller error; none at all is the mean image.
/// assert!(mse(16) < mse(4));
/// let mean = mean_image_loss(ReconstructionLoss::SigmoidMse, &train, &test);
/// assert!((mse(0) - mean).abs() < 1e-6);
/// ```
pub fn pca_loss(loss: ReconstructionLoss, train: &Dataset, test: &Dataset, k: usize) -> f64 {
    let pca = Pca::fit(&train.images, PIXELS, k.max(1));
    let sigmoid_output = loss != ReconstructionLoss::LinearMse;
    let reconstructions: Vec<f32> = pca
        .reconstruct(&test.images, k)
        .into_iter()
        .map(|v| if sigmoid_output { v.clamp(0.0, 1.0) } else { v } as f32)
        .collect();
    loss_of_images(loss, &reconstructions, &test.images, PIXELS)
}
