//! Chapter 5 trains for real on the embedded MNIST subset (2,000 train / 500 test images), seed 0:
//! the negative ELBO ends well below that of a VAE whose decoder ignores the code and always
//! outputs the mean training image (its KL can be 0, so its −ELBO is the mean image's BCE,
//! computed here), its recorded reconstruction and KL parts add up to it at every epoch, and the
//! importance-sampled estimate of −log p(x) lies below the −ELBO, as a tighter bound must.

use ae_toolkit::baseline::mean_image_loss;
use ae_toolkit::data::PIXELS;
use ae_toolkit::data::{embedded, DatasetKind};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::train::{RunOptions, TrainConfig};
use ch05_vae::{encode, importance_log_likelihood, kl_to_standard_normal, train, LATENT};

#[test]
fn the_vae_converges_and_importance_sampling_tightens_the_bound() {
    let dev = Cpu::seed_from_u64(0);
    let data = embedded(DatasetKind::Mnist);
    let cfg = TrainConfig::adam(15, 128);
    let (model, h) = train::<LATENT, Cpu>(&dev, &data, 1.0, &cfg, &RunOptions::default()).unwrap();
    println!("test −ELBO by epoch {}", h.test_loss_curve(2));
    let last = h.last();
    let mean_image = mean_image_loss(ReconstructionLoss::BcePerImage, &data.train, &data.test);
    println!("−ELBO {:.2} vs mean image {mean_image:.2}", last.test.loss);
    assert!(
        last.test.loss < 0.8 * mean_image,
        "{} vs mean image {mean_image}",
        last.test.loss
    );
    // "Its two parts must add up to it", at every epoch. Each evaluation batch records its loss as
    // rec + kl in f64, and the loss and the parts are averaged over the batches alike, so they can
    // differ only by f64 rounding, a few units of 2⁻⁵³ ≈ 10⁻¹⁶ of the loss (none at all with the
    // 500 test images in one evaluation batch); 10⁻¹² still catches any f32-level difference
    // (≈ 6·10⁻⁸ of the loss), let alone a different sample or a KL weight other than 1.
    for e in &h.epochs {
        let part = |n: &str| e.test.parts.iter().find(|(k, _)| k == n).unwrap().1;
        let sum = part("reconstruction") + part("kl");
        assert!(
            (sum - e.test.loss).abs() < 1e-12 * e.test.loss,
            "epoch {}: reconstruction + kl {sum} vs loss {}",
            e.epoch,
            e.test.loss
        );
    }
    // The recorded KL is the crate's closed form on the final model's codes of the test set,
    // computed here directly (it needs no noise, so it can be recomputed exactly).
    let part = |n: &str| last.test.parts.iter().find(|(k, _)| k == n).unwrap().1;
    let x = dev.tensor_from_vec(data.test.images.clone(), (data.test.len(), Const::<PIXELS>));
    let (mu, logvar) = encode(&model, x);
    let direct_kl = kl_to_standard_normal(mu, logvar).array() as f64;
    assert!(
        (part("kl") - direct_kl).abs() < 1e-4 * direct_kl,
        "recorded KL {} vs direct {direct_kl}",
        part("kl")
    );
    assert!(direct_kl > 0.0);

    // On the same 500 test images as the −ELBO above.
    let log_px = importance_log_likelihood(&model, &dev, &data.test, 50);
    let nll = -log_px.iter().sum::<f64>() / log_px.len() as f64;
    println!("−log p(x) ≈ {nll:.2} (K = 50); −ELBO {:.2}", last.test.loss);
    // log p(x) ≥ ELBO: the estimate must come out below −ELBO, by a clear margin.
    assert!(nll < last.test.loss - 1.0, "{nll} vs {}", last.test.loss);
}
