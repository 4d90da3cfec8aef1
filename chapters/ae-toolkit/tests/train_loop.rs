//! The training loop's guarantees: divergence stops with a clear message, checkpoints resume,
//! metrics are written whole, and evaluation means are exact test-set means.

use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::train::{
    checkpoint_optimiser_name, checkpoint_weights_name, fit, mean_metrics, Diverged,
    EvaluationNotFinite, Metrics, RunOptions, TrainConfig,
};

mod support;
use support::{mnist_head, resuming_in, train_bce};

type Tiny = ((Linear<784, 8>, ReLU), Linear<8, 784>);

#[test]
fn a_nan_loss_stops_training_with_epoch_step_and_last_good_loss() {
    let dev = Cpu::seed_from_u64(0);
    let mut model = dev.build_module::<Tiny, f32>();
    let data = mnist_head(300, 100);
    let cfg = TrainConfig::adam(2, 100);
    let mut step = 0;
    let err = fit(
        &mut model,
        &dev,
        &data,
        &cfg,
        &RunOptions::default(),
        |m, batch, grads| {
            step += 1;
            let loss = ReconstructionLoss::BcePerImage
                .loss(m.forward_mut(batch.x.clone().traced(grads)), batch.x);
            // Poison the second step.
            if step == 2 {
                loss * f32::NAN
            } else {
                loss
            }
        },
        |_, _| Metrics::loss_only(0.0),
    )
    .unwrap_err();
    let d = err.downcast_ref::<Diverged>().expect("a Diverged error");
    assert_eq!((d.epoch, d.step), (1, 2));
    assert!(d.value.is_nan());
    let msg = err.to_string();
    assert!(
        msg.contains("epoch 1, step 2")
            && msg.contains("last finite loss")
            && !d.last_good.contains("none"),
        "{msg}"
    );
}

#[test]
fn evaluation_weights_the_partial_last_batch() {
    // Mean pixel value per image, averaged with batches of 64 over 100 images (64 + 36), must equal
    // the plain mean over all 100 images.
    let dev = Cpu::default();
    let test = mnist_head(300, 100).test;
    let mut mean_pixel = |_: &(), b: &ae_toolkit::batch::Batch<Cpu>| {
        Metrics::loss_only(b.x.clone().mean::<Rank0, _>().array() as f64)
    };
    let got = mean_metrics(&(), &dev, &test, 64, &mut mean_pixel).loss;
    let want = test.images.iter().map(|&p| p as f64).sum::<f64>() / test.images.len() as f64;
    // f32 sums over 50,000 pixels carry ~1e-5 relative error; an unweighted mean of the two batch
    // means would be off by ~1e-3 on this data.
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}

#[test]
fn resume_continues_where_the_checkpoint_left_off() {
    let data = mnist_head(300, 100);
    let dir = tempfile::tempdir().unwrap();
    let run = resuming_in(dir.path(), "tiny");
    let dev = Cpu::seed_from_u64(1);

    let mut model = dev.build_module::<Tiny, f32>();
    let two = train_bce(&mut model, &dev, &data, &TrainConfig::adam(2, 100), &run).unwrap();
    assert_eq!(two.epochs.len(), 3);
    for f in [
        "metrics.csv",
        "metrics.json",
        "checkpoint-epoch-0002.safetensors",
        "checkpoint.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // A fresh model resumed from the checkpoint starts from the saved weights: its first
    // evaluation is not redone, and epochs 3 and 4 follow.
    let mut fresh = dev.build_module::<Tiny, f32>();
    let four = train_bce(&mut fresh, &dev, &data, &TrainConfig::adam(4, 100), &run).unwrap();
    assert_eq!(
        four.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(&four.epochs[..3], &two.epochs[..]);
    // Training continued from the trained weights, not from scratch: epoch 3 beats epoch 2.
    assert!(four.epochs[3].test.loss < two.epochs[2].test.loss);
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5);

    // A checkpoint of a different configuration is refused, not silently mixed in.
    let other = TrainConfig {
        batch_size: 50,
        ..TrainConfig::adam(6, 100)
    };
    let err = train_bce(&mut fresh, &dev, &data, &other, &run).unwrap_err();
    assert!(
        err.to_string().contains("belongs to a different run"),
        "{err}"
    );
}

#[test]
fn weights_of_another_shape_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let dev = Cpu::default();
    dev.build_module::<Tiny, f32>()
        .save_safetensors(&path)
        .unwrap();
    let mut other = dev.build_module::<((Linear<784, 9>, ReLU), Linear<9, 784>), f32>();
    let err = ae_toolkit::train::load_weights(&mut other, &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("w.safetensors") && err.contains("another shape"),
        "{err}"
    );
}

#[test]
fn the_training_set_is_scored_when_asked_and_only_then() {
    let dev = Cpu::seed_from_u64(0);
    let data = mnist_head(300, 100);
    let mut model = dev.build_module::<Tiny, f32>();
    let cfg = TrainConfig {
        evaluate_train_set: true,
        ..TrainConfig::adam(2, 100)
    };
    let h = train_bce(&mut model, &dev, &data, &cfg, &RunOptions::default()).unwrap();
    // The last record's training-set score is the loss of the final model on the training set.
    let mut loss = |m: &_, b: &ae_toolkit::batch::Batch<Cpu>| {
        let logits = ae_toolkit::model::Autoencoder::logits(m, b.x.clone());
        Metrics::loss_only(
            ReconstructionLoss::BcePerImage
                .loss(logits, b.x.clone())
                .array() as f64,
        )
    };
    let direct = mean_metrics(&model, &dev, &data.train, 1000, &mut loss).loss;
    let recorded = h.last().train_eval.as_ref().expect("scored").loss;
    assert!(
        (direct - recorded).abs() < 1e-9 * direct,
        "{direct} vs {recorded}"
    );
    assert!(h.epochs.iter().all(|e| e.train_eval.is_some()));
    assert!(
        h.to_csv()
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(3)
            .unwrap()
            != ""
    );

    let plain = train_bce(
        &mut model,
        &dev,
        &data,
        &TrainConfig::adam(1, 100),
        &RunOptions::default(),
    )
    .unwrap();
    assert!(plain.epochs.iter().all(|e| e.train_eval.is_none()));
}

fn weights_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_checkpoint_names_the_weights_it_describes_even_after_a_crash() {
    let (data, dir) = (mnist_head(300, 100), tempfile::tempdir().unwrap());
    let run = resuming_in(dir.path(), "tiny");
    let dev = Cpu::seed_from_u64(1);
    let mut model = dev.build_module::<Tiny, f32>();
    train_bce(&mut model, &dev, &data, &TrainConfig::adam(2, 100), &run).unwrap();
    // One weights file and Adam's state, the last epoch's, named by the description; older ones
    // are gone.
    assert_eq!(
        weights_files(dir.path()),
        [checkpoint_optimiser_name(2), checkpoint_weights_name(2)]
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("checkpoint.json")).unwrap())
            .unwrap();
    assert_eq!(meta["weights"], checkpoint_weights_name(2).as_str());
    assert_eq!(meta["optimiser"], checkpoint_optimiser_name(2).as_str());

    // A process that died after writing epoch 3's weights but before its description leaves the
    // description of epoch 2 in place — and it still names epoch 2's weights.
    let other = dev.build_module::<Tiny, f32>();
    other
        .save_safetensors(dir.path().join(checkpoint_weights_name(3)))
        .unwrap();
    let mut resumed = dev.build_module::<Tiny, f32>();
    let h = train_bce(&mut resumed, &dev, &data, &TrainConfig::adam(2, 100), &run).unwrap();
    assert_eq!(h.last().epoch, 2);
    assert_eq!(resumed.0 .0.weight.as_vec(), model.0 .0.weight.as_vec());
    assert_ne!(resumed.0 .0.weight.as_vec(), other.0 .0.weight.as_vec());
    // The next save cleans the orphan up.
    train_bce(&mut resumed, &dev, &data, &TrainConfig::adam(3, 100), &run).unwrap();
    assert_eq!(
        weights_files(dir.path()),
        [checkpoint_optimiser_name(3), checkpoint_weights_name(3)]
    );
}

#[test]
fn resuming_from_a_damaged_description_or_without_weights_is_a_clear_error() {
    let (data, dir) = (mnist_head(300, 100), tempfile::tempdir().unwrap());
    let run = resuming_in(dir.path(), "tiny");
    let dev = Cpu::seed_from_u64(1);
    let cfg = TrainConfig::adam(1, 100);
    let mut model = dev.build_module::<Tiny, f32>();
    train_bce(&mut model, &dev, &data, &cfg, &run).unwrap();
    let meta_path = dir.path().join("checkpoint.json");
    let good = std::fs::read_to_string(&meta_path).unwrap();

    // The history emptied (it used to panic with "history has epoch 0").
    let mut meta: serde_json::Value = serde_json::from_str(&good).unwrap();
    meta["history"]["epochs"] = serde_json::json!([]);
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let err = train_bce(&mut model, &dev, &data, &cfg, &run)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoint.json is damaged") && err.contains("[]"),
        "{err}"
    );
    assert!(err.contains("drop --resume"), "{err}");

    // The weights file removed: say it is missing, not that it has another shape.
    std::fs::write(&meta_path, &good).unwrap();
    std::fs::remove_file(dir.path().join(checkpoint_weights_name(1))).unwrap();
    let err = train_bce(&mut model, &dev, &data, &cfg, &run)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoint-epoch-0001.safetensors") && err.contains("is missing"),
        "{err}"
    );
    assert!(!err.contains("another shape"), "{err}");
    let err = ae_toolkit::train::load_weights(&mut model, &dir.path().join("nothing.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nothing.safetensors: the file is missing"),
        "{err}"
    );
}

#[test]
fn a_non_finite_evaluation_stops_training_before_it_reaches_a_table() {
    let dev = Cpu::seed_from_u64(0);
    let mut model = dev.build_module::<Tiny, f32>();
    let data = mnist_head(300, 100);
    let mut evaluations = 0;
    let err = fit(
        &mut model,
        &dev,
        &data,
        &TrainConfig::adam(3, 100),
        &RunOptions::default(),
        |m, batch, grads| {
            ReconstructionLoss::BcePerImage
                .loss(m.forward_mut(batch.x.clone().traced(grads)), batch.x)
        },
        // The training loss stays finite; the test metric's part turns NaN after epoch 1.
        |_, _| {
            evaluations += 1;
            let kl = if evaluations > 1 { f64::NAN } else { 0.5 };
            Metrics {
                loss: 1.0,
                parts: vec![("kl".into(), kl)],
            }
        },
    )
    .unwrap_err();
    let e = err
        .downcast_ref::<EvaluationNotFinite>()
        .expect("an EvaluationNotFinite error");
    assert_eq!((e.epoch, e.set, e.metric.as_str()), (1, "test", "kl"));
    assert!(
        err.to_string().contains("the test set's kl is NaN"),
        "{err}"
    );
}
