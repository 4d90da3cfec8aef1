//! `--resume` is exact: N epochs in one run and k epochs, then a new process resuming to N, end
//! with bitwise-identical weights and the same history. The checkpoint holds the weights and
//! Adam's state (step count and moments); the epoch order is a function of (seed, epoch), and
//! these objectives draw nothing from the device's random generator.

use ae_toolkit::conv::builder::{ConvTrans2D, Flatten2D, MaxPool2D, Unflatten2D};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::export::module_bits;
use ae_toolkit::model::Autoencoder;
use ae_toolkit::train::{
    checkpoint_optimiser_name, History, LearningRateSchedule, RunOptions, TrainConfig,
};

mod support;
use support::{mnist_head, resuming_in, train_bce};

type Mlp = ((Linear<784, 16>, ReLU), Linear<16, 784>);
/// 28×28 → 3×3 convolution, stride 2 → 14×14×2 → max-pool → 7×7×2 (a 98-value code) →
/// transposed convolutions back to 28×28.
type ConvAe = (
    (
        Unflatten2D<1, 28, 28>,
        ae_toolkit::conv::builder::Conv2D<1, 2, 3, 2, 1>,
        ReLU,
        MaxPool2D<2, 2>,
        Flatten2D<98>,
    ),
    (
        Unflatten2D<2, 7, 7>,
        ConvTrans2D<2, 2, 4, 2, 1>,
        ReLU,
        ConvTrans2D<2, 1, 4, 2, 1>,
        Flatten2D<784>,
    ),
);

/// Each tensor of a model by name, as bit patterns.
type Bits = Vec<(String, Vec<u32>)>;

/// Trains `total` epochs straight, and `first` epochs then a resume to `total` in a fresh model
/// built from another seed (as a new process would); returns both models' weights and histories.
fn straight_and_resumed<M>(first: usize, total: usize) -> [(Bits, History); 2]
where
    M: BuildOnDevice<Cpu, f32>,
    M::Built: Autoencoder<Cpu>,
{
    let data = mnist_head(120, 40);
    let cfg = |epochs| TrainConfig {
        seed: 3,
        ..TrainConfig::adam(epochs, 32) // 120 images: three full batches and one of 24
    };
    // One process: a model built on a device seeded with `seed`, trained to `epochs` in `dir`
    // (resuming from what is there); its weights and history.
    let process = |seed: u64, epochs: usize, dir: &std::path::Path| {
        let dev = Cpu::seed_from_u64(seed);
        let mut model = dev.build_module::<M, f32>();
        let run = resuming_in(dir, "exact");
        let history = train_bce(&mut model, &dev, &data, &cfg(epochs), &run).unwrap();
        (module_bits(&model), history)
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let straight = process(7, total, a.path());
    process(7, first, b.path());
    assert!(b.path().join(checkpoint_optimiser_name(first)).is_file());
    [straight, process(99, total, b.path())]
}

fn assert_same(result: [(Bits, History); 2], what: &str) {
    let [(w_straight, h_straight), (w_resumed, h_resumed)] = result;
    for ((name, a), (_, b)) in w_straight.iter().zip(&w_resumed) {
        let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(
            differ, 0,
            "{what}: {differ} values of {name} differ after the resume"
        );
    }
    let losses = |h: &History| -> Vec<(Option<f64>, f64)> {
        h.epochs
            .iter()
            .map(|e| (e.train_loss, e.test.loss))
            .collect()
    };
    assert_eq!(losses(&h_straight), losses(&h_resumed), "{what}");
}

#[test]
fn resuming_an_mlp_gives_bitwise_the_weights_of_an_uninterrupted_run() {
    assert_same(straight_and_resumed::<Mlp>(1, 3), "MLP, 1 + 2 epochs");
}

#[test]
fn resuming_a_conv_autoencoder_gives_bitwise_the_weights_of_an_uninterrupted_run() {
    assert_same(straight_and_resumed::<ConvAe>(2, 3), "conv, 2 + 1 epochs");
}

/// Without Adam's state (as in checkpoints from before it was saved) the resumed run differs:
/// what the test above relies on is really restored, not recomputed.
#[test]
fn without_the_optimiser_state_the_resumed_run_differs() {
    let data = mnist_head(120, 40);
    let dir = tempfile::tempdir().unwrap();
    let run = resuming_in(dir.path(), "exact");
    let dev = Cpu::seed_from_u64(7);
    let init = || Cpu::seed_from_u64(7).build_module::<Mlp, f32>();
    let mut straight = init();
    train_bce(&mut straight, &dev, &data, &TrainConfig::adam(2, 32), &run).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let run = resuming_in(dir.path(), "exact");
    let mut model = init();
    train_bce(&mut model, &dev, &data, &TrainConfig::adam(1, 32), &run).unwrap();
    let meta_path = dir.path().join("checkpoint.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta.as_object_mut().unwrap().remove("optimiser");
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let mut resumed = dev.build_module::<Mlp, f32>();
    train_bce(&mut resumed, &dev, &data, &TrainConfig::adam(2, 32), &run).unwrap();
    assert_ne!(module_bits(&resumed), module_bits(&straight));
}

#[test]
fn a_missing_or_foreign_optimiser_state_is_a_clear_error() {
    let data = mnist_head(120, 40);
    let dir = tempfile::tempdir().unwrap();
    let run = resuming_in(dir.path(), "exact");
    let dev = Cpu::seed_from_u64(7);
    let cfg = TrainConfig::adam(1, 32);
    let mut model = dev.build_module::<Mlp, f32>();
    train_bce(&mut model, &dev, &data, &cfg, &run).unwrap();
    let state = dir.path().join(checkpoint_optimiser_name(1));
    let saved = std::fs::read(&state).unwrap();

    // Another model's Adam state in its place.
    let other = tempfile::tempdir().unwrap();
    let mut wider = dev.build_module::<((Linear<784, 20>, ReLU), Linear<20, 784>), f32>();
    let wider_run = RunOptions {
        run_dir: Some(other.path().into()),
        ..run.clone()
    };
    train_bce(&mut wider, &dev, &data, &cfg, &wider_run).unwrap();
    std::fs::copy(other.path().join(checkpoint_optimiser_name(1)), &state).unwrap();
    let err = train_bce(&mut model, &dev, &data, &TrainConfig::adam(2, 32), &run)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(".adam.safetensors") && err.contains("[16, 784]"),
        "{err}"
    );

    // Truncated, then gone.
    std::fs::write(&state, &saved[..saved.len() / 2]).unwrap();
    let err = train_bce(&mut model, &dev, &data, &TrainConfig::adam(2, 32), &run)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is damaged") && err.contains("drop --resume"),
        "{err}"
    );
    std::fs::remove_file(&state).unwrap();
    let err = train_bce(&mut model, &dev, &data, &TrainConfig::adam(2, 32), &run).unwrap_err();
    assert!(
        format!("{err:#}").contains("cannot read the optimiser state"),
        "{err:#}"
    );
}

/// The cosine schedule sets Adam's rate at the start of each epoch: its first epoch is bitwise
/// the constant-rate run's (both at `η`), its second is not (`η/2` for a two-epoch run). Since the
/// rate is a function of the epoch alone, a resumed run sets the same rates as a straight one.
#[test]
fn the_cosine_schedule_changes_the_rate_from_the_second_epoch_on() {
    let data = mnist_head(120, 40);
    let run_with = |schedule| {
        let dev = Cpu::seed_from_u64(7);
        let mut model = dev.build_module::<Mlp, f32>();
        let cfg = TrainConfig {
            schedule,
            ..TrainConfig::adam(2, 32)
        };
        let history = train_bce(&mut model, &dev, &data, &cfg, &RunOptions::default()).unwrap();
        history
            .epochs
            .iter()
            .map(|e| e.test.loss)
            .collect::<Vec<_>>()
    };
    let constant = run_with(LearningRateSchedule::Constant);
    let cosine = run_with(LearningRateSchedule::Cosine);
    assert_eq!(constant[..2], cosine[..2], "untrained and after epoch 1");
    assert_ne!(constant[2], cosine[2], "after epoch 2");
}

/// Decoupled weight decay as the configuration documents it: after one Adam step with decay λ,
/// every weight is the step without decay minus `η·λ` times its value before the step.
#[test]
fn weight_decay_shrinks_each_weight_by_eta_lambda_of_itself() {
    let data = mnist_head(32, 8);
    let one_step = |weight_decay| {
        let dev = Cpu::seed_from_u64(7);
        let mut model = dev.build_module::<Mlp, f32>();
        let before = model.0 .0.weight.as_vec();
        let cfg = TrainConfig {
            weight_decay,
            ..TrainConfig::adam(1, 32)
        };
        train_bce(&mut model, &dev, &data, &cfg, &RunOptions::default()).unwrap();
        (before, model.0 .0.weight.as_vec())
    };
    let (before, plain) = one_step(0.0);
    let (lambda, (_, decayed)) = (0.5, one_step(0.5));
    let eta_lambda = (1e-3 * lambda) as f32;
    for ((b, p), d) in before.iter().zip(&plain).zip(&decayed) {
        let want = p - eta_lambda * b;
        assert!(
            (d - want).abs() <= 1e-7 + 1e-6 * want.abs(),
            "{d} against {want}"
        );
    }
    assert!(
        plain.iter().zip(&decayed).any(|(p, d)| p != d),
        "the decay did nothing"
    );
}

/// A cosine run's rates depend on its length, so it cannot be stretched on resume.
#[test]
fn a_cosine_run_resumed_with_more_epochs_is_refused() {
    let data = mnist_head(120, 40);
    let dir = tempfile::tempdir().unwrap();
    let run = resuming_in(dir.path(), "cosine");
    let dev = Cpu::seed_from_u64(7);
    let cfg = |epochs| TrainConfig {
        schedule: LearningRateSchedule::Cosine,
        ..TrainConfig::adam(epochs, 32)
    };
    let mut model = dev.build_module::<Mlp, f32>();
    train_bce(&mut model, &dev, &data, &cfg(1), &run).unwrap();
    let err = train_bce(&mut model, &dev, &data, &cfg(2), &run)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("belongs to a different run") && err.contains("drop --resume"),
        "{err}"
    );
}
