//! Chapter 4 trains for real on the embedded Fashion-MNIST subset (2,000 train / 500 test images,
//! scaled to [−1, 1]), seed 0, with and without dropout. Both must end well below the mean
//! training image's test MSE as a reconstruction of every test image (computed here).

use ae_toolkit::baseline::mean_image_loss;
use ae_toolkit::data::{embedded, DataSplits, Dataset, DatasetKind, PIXELS};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::Autoencoder;
use ae_toolkit::train::{History, RunOptions};
use ch04_dropout::{config, generalisation_gap, train, WithDropout, WithoutDropout};

fn data() -> DataSplits {
    embedded(DatasetKind::FashionMnist).to_symmetric_range()
}

fn run<M>() -> (M::Built, History)
where
    M: BuildOnDevice<Cpu, f32>,
    M::Built: Autoencoder<Cpu>,
{
    let dev = Cpu::seed_from_u64(0);
    let (model, h) =
        train::<M, Cpu>(&dev, &data(), &config(15, 0), &RunOptions::default()).unwrap();
    println!(
        "test MSE by epoch {}; gap {:.5}",
        h.test_loss_curve(4),
        generalisation_gap(&h)
    );
    (model, h)
}

/// Mean squared error per pixel of `model` on `set`: without dropout (`forward`), or with its
/// dropout layers active (`forward_mut` on a traced input, as in training).
fn mse_on<M: Autoencoder<Cpu>>(model: &mut M, set: &Dataset, dropout_active: bool) -> f64 {
    let dev = Cpu::seed_from_u64(9);
    let x = dev.tensor_from_vec(set.images.clone(), (set.len(), Const::<PIXELS>));
    let out = if dropout_active {
        let grads = model.alloc_grads();
        model
            .logits_traced(x.traced(grads))
            .retaped::<NoneTape>()
            .as_vec()
    } else {
        model.logits(x).as_vec()
    };
    // Summed in f64: the recorded value is an f32 mean over 784,000 pixels per batch.
    let total: f64 = out
        .iter()
        .zip(&set.images)
        .map(|(&o, &p)| (o as f64 - p as f64).powi(2))
        .sum();
    total / out.len() as f64
}

#[test]
fn both_models_converge_and_the_training_set_is_scored_without_dropout() {
    let (mut with_model, with) = run::<WithDropout>();
    let (_, without) = run::<WithoutDropout>();
    // The recorded training-set loss is that of the final model with dropout off…
    let train_set = data().train;
    let recorded = with.last().train_eval.as_ref().expect("scored").loss;
    let direct = mse_on(&mut with_model, &train_set, false);
    assert!(
        (recorded - direct).abs() < 1e-3 * direct,
        "recorded {recorded} vs direct {direct}"
    );
    // …which is not what the same model scores with its dropout layers active.
    let noisy = mse_on(&mut with_model, &train_set, true);
    assert!(
        noisy > 1.1 * direct,
        "with dropout {noisy} vs without {direct}"
    );
    let data = data();
    let mean_image = mean_image_loss(ReconstructionLoss::LinearMse, &data.train, &data.test);
    for h in [&with, &without] {
        let last = h.last();
        println!(
            "test MSE {:.4} vs mean image {mean_image:.4}",
            last.test.loss
        );
        assert!(
            last.test.loss < 0.5 * mean_image,
            "{} vs mean image {mean_image}",
            last.test.loss
        );
        // The training set is scored every epoch, like the test set, and the gap is test − train.
        assert!(h.epochs.iter().all(|e| e.train_eval.is_some()));
        let train_loss = last.train_eval.as_ref().unwrap().loss;
        // The page: the gap "must be a finite number" (it is NaN without a training-set score).
        assert!(
            generalisation_gap(h).is_finite(),
            "{}",
            generalisation_gap(h)
        );
        assert_eq!(generalisation_gap(h), last.test.loss - train_loss);
    }
}
