//! Chapter 7's convolutional denoiser trains for real on the embedded MNIST subset (2,000 train /
//! 500 test images, scaled to [−1, 1]) with Chapter 3's objective and noise (Gaussian, σ = 0.5),
//! and is scored on Chapter 3's PSNR table against baselines computed here: the noisy input
//! itself, the two 3×3 filters, and Chapter 3's MLP trained with the same configuration on the
//! same data.
//!
//! `cargo test -p ch07-convolutional --test convergence denoising -- --nocapture` prints both
//! models' test MSE by epoch and the PSNR table (seed 0, the configuration of [`config`]). After
//! four epochs the convolutional model (4,385 parameters) is ahead of the MLP (about 1.1 million)
//! and of the noisy input; the classical filters are still ahead of both. Beating them takes the
//! full training set (Chapter 3's table), more than a test's seconds, so this test asserts what
//! four epochs on the subset show and the filters are only printed.

use ae_toolkit::data::{embedded, DatasetKind};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::train::{History, RunOptions, TrainConfig};
use ch03_denoising::{
    denoise, training_config, Noise, PsnrRow, PsnrTestImages, MASKED_FRACTION, PSNR_SIGMAS, SIGMA,
};
use ch07_convolutional::denoising;

/// Chapter 3's configuration (Adam, β₁ = 0.5) with more, smaller steps: 2,000 images in batches
/// of 128 give 16 steps an epoch, too few for either model to learn much in a test's seconds.
fn config() -> TrainConfig {
    TrainConfig {
        batch_size: 16,
        learning_rate: 3e-3,
        ..training_config(4, 0)
    }
}

/// A trained model's test MSE by epoch and its reconstructions of the Gaussian rows of the PSNR
/// table (one per σ of [`PSNR_SIGMAS`]).
struct Trained {
    history: History,
    denoised: Vec<Vec<f32>>,
}

#[test]
fn conv_denoiser_beats_the_noisy_input_and_chapter_3s_mlp() {
    let data = embedded(DatasetKind::Mnist).to_symmetric_range();
    let images = PsnrTestImages::draw(&data.test, SIGMA, MASKED_FRACTION, 0);
    let noise = Noise::Gaussian { sigma: SIGMA };
    let cfg = config();
    let run = RunOptions::default();
    // Each model on its own freshly seeded device, as the reproduce example trains them.
    let conv = {
        let dev = Cpu::seed_from_u64(0);
        let (model, history) = denoising::train(&dev, &data, noise, &cfg, &run).unwrap();
        let denoised = images.gaussian.iter().map(|x| denoise(&model, &dev, x));
        Trained {
            history,
            denoised: denoised.collect(),
        }
    };
    let mlp = {
        let dev = Cpu::seed_from_u64(0);
        let (model, history) = ch03_denoising::train(&dev, &data, noise, &cfg, &run).unwrap();
        let denoised = images.gaussian.iter().map(|x| denoise(&model, &dev, x));
        Trained {
            history,
            denoised: denoised.collect(),
        }
    };
    let losses = |t: &Trained| -> String { t.history.test_loss_curve(4) };
    println!(
        "test MSE by epoch: conv {}; MLP {}",
        losses(&conv),
        losses(&mlp)
    );

    let rows: Vec<PsnrRow> = PSNR_SIGMAS
        .iter()
        .enumerate()
        .map(|(i, &sigma)| {
            PsnrRow::score(
                Noise::Gaussian { sigma },
                &images.clean.images,
                &images.gaussian[i],
                &[&mlp.denoised[i], &conv.denoised[i]],
            )
        })
        .collect();
    println!("σ | noisy input | MLP | conv | median 3×3 | Gaussian 3×3 (PSNR, dB)");
    for row in &rows {
        println!("{}", row.cells().join(" | "));
    }

    let at_training_sigma = &rows[PSNR_SIGMAS
        .iter()
        .position(|&s| s == SIGMA)
        .expect("the training σ is a row of the table")];
    let [mlp_psnr, conv_psnr] = at_training_sigma.denoisers[..] else {
        unreachable!("two denoisers were scored")
    };
    let noisy_input = at_training_sigma.noisy_input;
    assert!(
        conv_psnr > noisy_input,
        "{conv_psnr} vs noisy input {noisy_input}"
    );
    assert!(conv_psnr > mlp_psnr, "{conv_psnr} vs MLP {mlp_psnr}");
}
