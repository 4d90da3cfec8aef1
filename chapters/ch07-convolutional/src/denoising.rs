//! Part 2: the convolutional denoising autoencoder, Chapter 3's task, noise and objective with this
//! chapter's convolutional architecture.
//!
//! Chapter 3 corrupts images scaled to `[−1, 1]` (Gaussian noise of σ = [`SIGMA`], or masking)
//! and trains its MLP to return the clean image, with MSE and a linear output. Nothing of that
//! depends on the network being dense: [`ch03_denoising::train_denoiser`] trains any
//! [`Autoencoder`](ae_toolkit::model::Autoencoder), so the convolutional model here is trained on
//! exactly Chapter 3's objective and configuration, and scored on Chapter 3's PSNR table with the
//! same fixed test corruption ([`ch03_denoising::PsnrTestImages`]).
//!
//! [`SIGMA`]: ch03_denoising::SIGMA

use ae_toolkit::data::DataSplits;
use ae_toolkit::device::ImageDevice;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::train::{History, RunOptions, TrainConfig};
use ch03_denoising::{train_denoiser, Noise};

use crate::ConvAutoencoder;

/// The convolutional denoiser: the same layers as [`ConvAutoencoder`], so the same type.
///
/// Its decoder ends in a 3×3 convolution with nothing after it. Trained with binary
/// cross-entropy, those raw outputs are logits and their sigmoid is the image; under Chapter 3's
/// objective (MSE against images in `[−1, 1]`, [`ReconstructionLoss::LinearMse`]) they are the
/// pixels themselves, a linear output like the MLP's, which can reach the background at −1 and
/// never saturates. Only the loss reads the last layer differently; the architecture is unchanged.
///
/// [`ReconstructionLoss::LinearMse`]: ae_toolkit::losses::ReconstructionLoss::LinearMse
pub type ConvDenoiser = ConvAutoencoder;

/// The convolutional denoiser built on device `D`.
pub type ConvDenoiserModel<D> = <ConvDenoiser as BuildOnDevice<D, f32>>::Built;

/// Builds the convolutional denoiser on `dev` and trains it to remove `noise` with Chapter 3's
/// objective ([`train_denoiser`]): fresh noise on every training batch, the test set scored on
/// one fixed corruption. `data` must be scaled to `[−1, 1]`, as Chapter 3's is.
pub fn train<D: ImageDevice>(
    dev: &D,
    data: &DataSplits,
    noise: Noise,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<(ConvDenoiserModel<D>, History)> {
    let mut model = ConvDenoiser::build_on_device(dev);
    let history = train_denoiser(&mut model, dev, data, noise, cfg, run)?;
    Ok((model, history))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ae_toolkit::data::{embedded, DatasetKind, PIXELS};
    use ae_toolkit::losses::ReconstructionLoss;
    use ae_toolkit::model::Autoencoder;
    use ch03_denoising::{denoising_loss, noise_rng, SIGMA};

    /// Chapter 3's objective on the convolutional model is the linear-output MSE of its raw
    /// outputs for the noisy images against the clean ones (not against the noisy ones).
    #[test]
    fn chapter_3_objective_is_linear_mse_against_the_clean_images() {
        let dev = Cpu::seed_from_u64(0);
        let mut model = dev.build_module::<ConvDenoiser, f32>();
        let clean_pixels = embedded(DatasetKind::Mnist)
            .test
            .head(4)
            .to_symmetric_range()
            .images;
        let noisy_pixels =
            Noise::Gaussian { sigma: SIGMA }.corrupt(&clean_pixels, &mut noise_rng(0, 3));
        let clean = dev.tensor_from_vec(clean_pixels, (4, Const::<PIXELS>));
        let noisy = dev.tensor_from_vec(noisy_pixels, (4, Const::<PIXELS>));
        let grads = model.alloc_grads();
        let objective = denoising_loss(&mut model, clean.clone(), noisy.clone(), grads).array();
        let outputs = model.logits(noisy.clone());
        let linear_mse = ReconstructionLoss::LinearMse
            .loss(outputs.clone(), clean.clone())
            .array();
        assert!(
            (objective - linear_mse).abs() < 1e-5 * linear_mse,
            "{objective} vs {linear_mse}"
        );
        let against_noisy = ReconstructionLoss::LinearMse.loss(outputs, noisy).array();
        assert!(
            (objective - against_noisy).abs() > 0.1,
            "the two targets must differ"
        );
    }
}
