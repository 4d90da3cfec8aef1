//! The training loop every chapter uses: Adam, shuffled mini-batches, a test evaluation after
//! every epoch, a progress bar, metrics as CSV and JSON, a NaN guard, and atomic checkpoints that
//! `--resume` continues from.
//!
//! The loop is generic over the model `M`, the device `D` and the objective: a chapter passes one
//! closure computing the training loss on a batch (recording the gradient tape) and one
//! evaluating a batch without a tape.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use dfdx::optim::{Adam, AdamConfig, Optimizer};
use dfdx::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::batch::{batch_count, batches, epoch_order, Batch};
use crate::data::{DataSplits, Dataset};

/// Hyper-parameters of a training run.
///
/// ```
/// use ae_toolkit::train::TrainConfig;
/// let cfg = TrainConfig { learning_rate: 3e-4, seed: 7, ..TrainConfig::adam(20, 64) };
/// // Stored in every checkpoint, so that `--resume` can check it continues the same run.
/// let json = serde_json::to_string(&cfg).unwrap();
/// assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), cfg);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per mini-batch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Adam's (β₁, β₂).
    pub betas: [f64; 2],
    /// Seed for the shuffling order (model initialisation is seeded by the device).
    pub seed: u64,
    /// Images per evaluation batch (no gradients are kept, so this can be large).
    pub eval_batch_size: usize,
    /// Also evaluate on the training set (without a tape, like the test set) after every epoch,
    /// to measure the generalisation gap; costs one more pass over the training data.
    #[serde(default)]
    pub evaluate_train_set: bool,
}

impl TrainConfig {
    /// Adam with lr 1e-3, betas (0.9, 0.999), evaluation in batches of 1,000.
    ///
    /// ```
    /// let cfg = ae_toolkit::train::TrainConfig::adam(10, 128);
    /// assert_eq!((cfg.learning_rate, cfg.betas), (1e-3, [0.9, 0.999]));
    /// ```
    pub fn adam(epochs: usize, batch_size: usize) -> Self {
        TrainConfig {
            epochs,
            batch_size,
            learning_rate: 1e-3,
            betas: [0.9, 0.999],
            seed: 0,
            eval_batch_size: 1000,
            evaluate_train_set: false,
        }
    }

    /// dfdx's Adam settings for this configuration (ε 10⁻⁸, no weight decay).
    ///
    /// ```
    /// let adam = ae_toolkit::train::TrainConfig::adam(1, 128).adam_config();
    /// assert_eq!((adam.lr, adam.betas, adam.eps), (1e-3, [0.9, 0.999], 1e-8));
    /// ```
    pub fn adam_config(&self) -> AdamConfig {
        AdamConfig {
            lr: self.learning_rate,
            betas: self.betas,
            eps: 1e-8,
            weight_decay: None,
        }
    }
}

/// Where a run writes its metrics and checkpoints, and whether it resumes.
///
/// ```
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::losses::Reconstruction;
/// use ae_toolkit::model::train_reconstruction;
/// use ae_toolkit::train::{RunOptions, TrainConfig};
/// use dfdx::prelude::*;
/// type Tiny = ((Linear<784, 8>, ReLU), Linear<8, 784>);
/// let full = embedded(DatasetKind::Mnist);
/// let data = DataSplits { train: full.train.head(40), test: full.test.head(20), ..full };
/// let (dev, loss) = (Cpu::seed_from_u64(0), Reconstruction::BcePerImage);
/// let dir = tempfile::tempdir().unwrap();
/// let run = RunOptions { run_dir: Some(dir.path().into()), run_name: "demo".into(), ..Default::default() };
/// let mut model = dev.build_module::<Tiny, f32>();
/// let first = train_reconstruction(&mut model, &dev, &data, loss, &TrainConfig::adam(1, 20), &run).unwrap();
/// for file in ["metrics.csv", "metrics.json", "checkpoint-epoch-0001.safetensors", "checkpoint.json"] {
///     assert!(dir.path().join(file).is_file(), "{file}");
/// }
/// // Asked for two epochs with `resume`, a new process continues after epoch 1.
/// let resume = RunOptions { resume: true, ..run };
/// let mut restarted = dev.build_module::<Tiny, f32>();
/// let cfg = TrainConfig::adam(2, 20);
/// let second = train_reconstruction(&mut restarted, &dev, &data, loss, &cfg, &resume).unwrap();
/// assert_eq!(second.epochs.len(), 3);
/// assert_eq!(second.epochs[..2], first.epochs[..]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Directory for `metrics.csv`, `metrics.json`, the checkpoint (`checkpoint.json` and the
    /// weights file it names, `checkpoint-epoch-NNNN.safetensors`); `None` writes nothing (tests).
    pub run_dir: Option<PathBuf>,
    /// Continue from the checkpoint in `run_dir` if there is one.
    pub resume: bool,
    /// Show a progress bar and a line per epoch on stderr.
    pub verbose: bool,
    /// Names the run in the checkpoint so a different run's checkpoint is never resumed.
    pub run_name: String,
}

/// Test-set metrics: the loss and any named parts of it (e.g. a VAE's reconstruction and KL).
///
/// Stored in `metrics.json` and checkpoints as plain JSON, parts in order:
///
/// ```
/// use ae_toolkit::train::Eval;
/// let e = Eval { loss: 30.5, parts: vec![("reconstruction".into(), 25.0), ("kl".into(), 5.5)] };
/// let json = serde_json::to_string(&e).unwrap();
/// assert_eq!(json, r#"{"loss":30.5,"parts":[["reconstruction",25.0],["kl",5.5]]}"#);
/// assert_eq!(serde_json::from_str::<Eval>(&json).unwrap(), e);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    /// The objective, averaged over the test images.
    pub loss: f64,
    /// Named parts, each averaged over the test images.
    pub parts: Vec<(String, f64)>,
}

impl Eval {
    /// An evaluation with no parts.
    ///
    /// ```
    /// use ae_toolkit::train::Eval;
    /// assert_eq!(Eval::loss(0.25), Eval { loss: 0.25, parts: vec![] });
    /// ```
    pub fn loss(loss: f64) -> Self {
        Eval {
            loss,
            parts: Vec::new(),
        }
    }
}

/// What one epoch measured.
///
/// Records written before `train_eval` existed still load (it defaults to `None`):
///
/// ```
/// use ae_toolkit::train::{EpochRecord, Eval};
/// let old = r#"{"epoch":1,"train_loss":0.5,"test":{"loss":0.4,"parts":[]},"seconds":2.0,"samples_per_sec":1000.0}"#;
/// let r: EpochRecord = serde_json::from_str(old).unwrap();
/// assert_eq!(r, EpochRecord { epoch: 1, train_loss: Some(0.5), test: Eval::loss(0.4), seconds: 2.0, samples_per_sec: 1000.0, train_eval: None });
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch; 0 is the untrained model.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size); `None` at epoch 0.
    pub train_loss: Option<f64>,
    /// Test metrics after the epoch.
    pub test: Eval,
    /// The same metrics on the training set, when [`TrainConfig::evaluate_train_set`] is on.
    #[serde(default)]
    pub train_eval: Option<Eval>,
    /// Seconds spent training in this epoch (evaluation excluded).
    pub seconds: f64,
    /// Training images per second.
    pub samples_per_sec: f64,
}

/// The whole run so far, epoch 0 (untrained) first.
///
/// ```
/// use ae_toolkit::train::{EpochRecord, Eval, History};
/// let untrained = EpochRecord { epoch: 0, train_loss: None, test: Eval::loss(543.0), seconds: 0.0, samples_per_sec: 0.0, train_eval: None };
/// let h = History { epochs: vec![untrained] };
/// assert_eq!(h.last().epoch, 0);
/// assert_eq!(h.last().train_loss, None); // nothing trained yet
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per epoch.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// The test loss of the untrained model.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Eval, History};
    /// fn record(epoch: usize, train_loss: Option<f64>, test: f64, seconds: f64) -> EpochRecord {
    ///     EpochRecord { epoch, train_loss, test: Eval::loss(test), seconds, samples_per_sec: 0.0, train_eval: None }
    /// }
    /// let h = History { epochs: vec![record(0, None, 543.0, 0.0), record(1, Some(150.0), 120.0, 3.0)] };
    /// assert_eq!(h.untrained_test_loss(), 543.0);
    /// ```
    pub fn untrained_test_loss(&self) -> f64 {
        self.epochs[0].test.loss
    }
    /// The last epoch's record.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Eval, History};
    /// fn record(epoch: usize, train_loss: Option<f64>, test: f64, seconds: f64) -> EpochRecord {
    ///     EpochRecord { epoch, train_loss, test: Eval::loss(test), seconds, samples_per_sec: 0.0, train_eval: None }
    /// }
    /// let h = History { epochs: vec![record(0, None, 543.0, 0.0), record(1, Some(150.0), 120.0, 3.0)] };
    /// assert_eq!((h.last().epoch, h.last().test.loss), (1, 120.0));
    /// ```
    pub fn last(&self) -> &EpochRecord {
        self.epochs.last().expect("history has epoch 0")
    }
    /// Total training seconds.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Eval, History};
    /// fn record(epoch: usize, train_loss: Option<f64>, test: f64, seconds: f64) -> EpochRecord {
    ///     EpochRecord { epoch, train_loss, test: Eval::loss(test), seconds, samples_per_sec: 0.0, train_eval: None }
    /// }
    /// let h = History {
    ///     epochs: vec![record(0, None, 543.0, 0.0), record(1, Some(150.0), 120.0, 3.0), record(2, Some(110.0), 105.0, 2.5)],
    /// };
    /// assert_eq!(h.training_seconds(), 5.5);
    /// ```
    pub fn training_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.seconds).sum()
    }

    /// The metrics as CSV: one row per epoch, one column per part.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Eval, History};
    /// let eval = |loss: f64, kl: f64| Eval { loss, parts: vec![("kl".into(), kl)] };
    /// let h = History {
    ///     epochs: vec![
    ///         EpochRecord { epoch: 0, train_loss: None, test: eval(3.0, 0.0), seconds: 0.0, samples_per_sec: 0.0, train_eval: None },
    ///         EpochRecord { epoch: 1, train_loss: Some(2.5), test: eval(2.0, 0.5), seconds: 1.25, samples_per_sec: 1600.0, train_eval: None },
    ///     ],
    /// };
    /// assert_eq!(
    ///     h.to_csv(),
    ///     "epoch,train_loss,test_loss,test_kl,train_set_loss,seconds,samples_per_sec\n\
    ///      0,,3,0,,0.000,0.0\n\
    ///      1,2.5,2,0.5,,1.250,1600.0\n"
    /// );
    /// ```
    pub fn to_csv(&self) -> String {
        let parts: Vec<&str> = self.epochs[0]
            .test
            .parts
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        let mut s = String::from("epoch,train_loss,test_loss");
        for p in &parts {
            s.push_str(&format!(",test_{p}"));
        }
        s.push_str(",train_set_loss,seconds,samples_per_sec\n");
        for e in &self.epochs {
            let train = e.train_loss.map(|v| v.to_string()).unwrap_or_default();
            s.push_str(&format!("{},{train},{}", e.epoch, e.test.loss));
            for (_, v) in &e.test.parts {
                s.push_str(&format!(",{v}"));
            }
            let train_set = e.train_eval.as_ref().map(|t| t.loss.to_string());
            s.push_str(&format!(",{}", train_set.unwrap_or_default()));
            s.push_str(&format!(",{:.3},{:.1}\n", e.seconds, e.samples_per_sec));
        }
        s
    }
}

/// Stopped because the loss became NaN or infinite.
///
/// [`fit`] returns it inside its `anyhow::Error`:
///
/// ```
/// use ae_toolkit::batch::Batch;
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::losses::mse_per_pixel;
/// use ae_toolkit::train::{fit, Diverged, Eval, RunOptions, TrainConfig};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let full = embedded(DatasetKind::Mnist);
/// let data = DataSplits { train: full.train.head(40), test: full.test.head(20), ..full };
/// let mut model = dev.build_module::<(Linear<784, 4>, Linear<4, 784>), f32>();
/// let err = fit(
///     &mut model,
///     &dev,
///     &data,
///     &TrainConfig::adam(1, 20),
///     &RunOptions::default(),
///     // A broken loss: NaN from the first step.
///     |m, b: Batch<Cpu>, grads| mse_per_pixel(m.forward_mut(b.x.clone().traced(grads)), b.x) * f32::NAN,
///     |_, _| Eval::loss(0.0),
/// )
/// .unwrap_err();
/// let d = err.downcast_ref::<Diverged>().unwrap();
/// assert_eq!((d.epoch, d.step, d.last_good.as_str()), (1, 1, "none"));
/// let msg = err.to_string();
/// assert!(msg.starts_with("training diverged: the loss became NaN at epoch 1, step 1"), "{msg}");
/// assert!(msg.contains("Lower the learning rate"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error(
    "training diverged: the loss became {value} at epoch {epoch}, step {step} (last finite loss: \
     {last_good}). Lower the learning rate, check the input range matches the output activation, \
     or resume from the last checkpoint."
)]
pub struct Diverged {
    /// The epoch (1-based).
    pub epoch: usize,
    /// The step within the epoch (1-based).
    pub step: usize,
    /// The non-finite value.
    pub value: f32,
    /// The last finite training loss, if any.
    pub last_good: String,
}

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    run_name: String,
    config: TrainConfig,
    history: History,
    /// The weights file (in the same directory) saved after the last epoch of `history`. Each
    /// save writes a new file, so this description and the weights it names never disagree.
    /// (Absent in checkpoints written before the name changed with the epoch.)
    #[serde(default)]
    weights: Option<String>,
}

/// The checkpoint's description: run, configuration, history and the name of its weights file.
pub const CHECKPOINT_META: &str = "checkpoint.json";
/// The weights file of checkpoints written before each save got its own name.
const LEGACY_WEIGHTS: &str = "checkpoint.safetensors";

/// The weights file saved after `epoch`: `checkpoint-epoch-0007.safetensors`.
///
/// ```
/// assert_eq!(ae_toolkit::train::checkpoint_weights_name(7), "checkpoint-epoch-0007.safetensors");
/// ```
pub fn checkpoint_weights_name(epoch: usize) -> String {
    format!("checkpoint-epoch-{epoch:04}.safetensors")
}

fn is_checkpoint_weights(name: &str) -> bool {
    name == LEGACY_WEIGHTS
        || (name.starts_with("checkpoint-epoch-") && name.ends_with(".safetensors"))
}

/// Trains `model` on `data.train`, evaluating on `data.test` before training and after every
/// epoch.
///
/// `train_loss(model, batch, grads)` must run the model on a traced input (`x.traced(grads)`) and
/// return the loss carrying the tape; `eval(model, batch)` runs it without a tape and returns the
/// batch's mean metrics. Weighted by batch size, these give exact test-set means.
///
/// ```
/// use ae_toolkit::batch::Batch;
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::losses::{mse_per_pixel, scalar};
/// use ae_toolkit::train::{fit, Eval, RunOptions, TrainConfig};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let full = embedded(DatasetKind::Mnist);
/// let data = DataSplits { train: full.train.head(200), test: full.test.head(100), ..full };
/// // A linear autoencoder with a sigmoid output, trained on mean squared error.
/// let mut model = dev.build_module::<(Linear<784, 16>, Linear<16, 784>, Sigmoid), f32>();
/// let cfg = TrainConfig::adam(1, 20);
/// let history = fit(
///     &mut model,
///     &dev,
///     &data,
///     &cfg,
///     &RunOptions::default(), // writes nothing
///     |m, batch: Batch<Cpu>, grads| mse_per_pixel(m.forward_mut(batch.x.clone().traced(grads)), batch.x),
///     |m, batch| Eval::loss(scalar(&mse_per_pixel(m.forward(batch.x.clone()), batch.x.clone())) as f64),
/// )
/// .unwrap();
/// assert_eq!(history.epochs.len(), 2); // epoch 0 (untrained) and epoch 1
/// assert!(history.last().test.loss < history.untrained_test_loss());
/// ```
pub fn fit<M, D>(
    model: &mut M,
    dev: &D,
    data: &DataSplits,
    cfg: &TrainConfig,
    run: &RunOptions,
    train_loss: impl FnMut(&mut M, Batch<D>, Gradients<f32, D>) -> TapedLoss<D>,
    mut eval: impl FnMut(&M, &Batch<D>) -> Eval,
) -> anyhow::Result<History>
where
    D: Device<f32>,
    M: TensorCollection<f32, D>,
{
    let batch_size = cfg.eval_batch_size;
    fit_evaluating_sets(model, dev, data, cfg, run, train_loss, |m, set| {
        evaluate(m, dev, set, batch_size, &mut eval)
    })
}

/// [`fit`] for metrics that are not means over batches: `evaluate_set(model, set)` scores a whole
/// data set (the test set after every epoch, and the training set when asked). Chapter 2's
/// sparsity penalty needs this: it is a function of each unit's mean activation over the set,
/// which averaging per-batch penalties would only approximate.
pub fn fit_evaluating_sets<M, D>(
    model: &mut M,
    dev: &D,
    data: &DataSplits,
    cfg: &TrainConfig,
    run: &RunOptions,
    mut train_loss: impl FnMut(&mut M, Batch<D>, Gradients<f32, D>) -> TapedLoss<D>,
    mut evaluate_set: impl FnMut(&M, &Dataset) -> Eval,
) -> anyhow::Result<History>
where
    D: Device<f32>,
    M: TensorCollection<f32, D>,
{
    if cfg.batch_size == 0 || cfg.eval_batch_size == 0 {
        bail!(
            "batch sizes must be positive (got {} and {})",
            cfg.batch_size,
            cfg.eval_batch_size
        );
    }
    let (train, test) = (&data.train, &data.test);
    if train.is_empty() {
        bail!("the training set is empty");
    }
    let mut history = History::default();
    if let Some(meta) = resume_from(model, cfg, run)? {
        history = meta.history;
    } else {
        history.epochs.push(EpochRecord {
            epoch: 0,
            train_loss: None,
            test: finite(evaluate_set(model, test), 0, "test")?,
            train_eval: cfg
                .evaluate_train_set
                .then(|| evaluate_set(model, train))
                .map(|e| finite(e, 0, "training"))
                .transpose()?,
            seconds: 0.0,
            samples_per_sec: 0.0,
        });
        save_metrics(&history, run)?;
    }
    let start_epoch = history.last().epoch + 1;
    if run.verbose && start_epoch > 1 {
        eprintln!("resuming after epoch {} of {}", start_epoch - 1, cfg.epochs);
    }

    let mut stepper = TrainStep::new(model, cfg);
    let steps = batch_count(train.len(), cfg.batch_size);
    for epoch in start_epoch..=cfg.epochs {
        let bar = progress_bar(run.verbose, steps, epoch, cfg.epochs);
        let started = Instant::now();
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let order = epoch_order(train.len(), cfg.seed, epoch);
        for (step, batch) in batches(dev, train, cfg.batch_size, Some(order)).enumerate() {
            let n = batch.len();
            let value = match stepper.step(model, batch, &mut train_loss)? {
                Ok(value) => value,
                Err(NonFiniteLoss(value)) => {
                    bar.abandon();
                    return Err(Diverged {
                        epoch,
                        step: step + 1,
                        value,
                        last_good: if seen > 0 {
                            format!("{}", loss_sum / seen as f64)
                        } else {
                            "none".into()
                        },
                    }
                    .into());
                }
            };
            loss_sum += value as f64 * n as f64;
            seen += n;
            bar.inc(1);
            if step % 10 == 0 {
                let rate = seen as f64 / started.elapsed().as_secs_f64();
                bar.set_message(format!(
                    "loss {:.4} | {rate:.0} img/s",
                    loss_sum / seen as f64
                ));
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let record = EpochRecord {
            epoch,
            train_loss: Some(loss_sum / seen as f64),
            test: finite(evaluate_set(model, test), epoch, "test")?,
            train_eval: cfg
                .evaluate_train_set
                .then(|| evaluate_set(model, train))
                .map(|e| finite(e, epoch, "training"))
                .transpose()?,
            seconds,
            samples_per_sec: seen as f64 / seconds,
        };
        if run.verbose {
            eprintln!(
                "epoch {epoch:>3}/{}: train {:.5}  test {:.5}{}  ({:.1} s, {:.0} img/s)",
                cfg.epochs,
                record.train_loss.unwrap(),
                record.test.loss,
                record
                    .test
                    .parts
                    .iter()
                    .map(|(n, v)| format!("  {n} {v:.4}"))
                    .collect::<String>(),
                record.seconds,
                record.samples_per_sec
            );
        }
        history.epochs.push(record);
        save_metrics(&history, run)?;
        save_checkpoint(model, cfg, run, &history)?;
    }
    Ok(history)
}

/// A training loss that was NaN or infinite; the step was not applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonFiniteLoss(pub f32);

/// The loss of a batch with its gradient tape, as a chapter's objective returns it.
pub type TapedLoss<D> = Tensor<Rank0, f32, D, OwnedTape<f32, D>>;

/// One optimisation step, the same for [`fit`] and for the benchmarks that time it: the
/// objective's loss with its tape, the backward pass, Adam's update, the gradients zeroed.
///
/// ```
/// use ae_toolkit::{batch::batches, data::{embedded, DatasetKind}, losses::Reconstruction};
/// use ae_toolkit::model::reconstruction_loss;
/// use ae_toolkit::train::{TrainConfig, TrainStep};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let mut model = dev.build_module::<((Linear<784, 8>, ReLU), Linear<8, 784>), f32>();
/// let mut step = TrainStep::new(&model, &TrainConfig::adam(1, 50));
/// let batch = batches(&dev, &embedded(DatasetKind::Mnist).test.head(50), 50, None).next().unwrap();
/// let mut objective = |m: &mut _, b: ae_toolkit::batch::Batch<Cpu>, g| {
///     reconstruction_loss(m, b.x, g, Reconstruction::BcePerImage)
/// };
/// let first = step.step(&mut model, batch.clone(), &mut objective).unwrap().unwrap();
/// let second = step.step(&mut model, batch, &mut objective).unwrap().unwrap();
/// assert!(second < first, "one Adam step on the same batch lowers its loss: {first} -> {second}");
/// ```
pub struct TrainStep<M, D: Device<f32>> {
    opt: Adam<M, f32, D>,
    grads: Option<Gradients<f32, D>>,
}

impl<M: TensorCollection<f32, D>, D: Device<f32>> TrainStep<M, D> {
    /// Adam with the configuration's settings, and gradient buffers for `model`.
    pub fn new(model: &M, cfg: &TrainConfig) -> Self {
        TrainStep {
            opt: Adam::new(model, cfg.adam_config()),
            grads: Some(model.alloc_grads()),
        }
    }

    /// Runs the objective `train_loss` on `batch` and, if its loss is finite, backpropagates and updates
    /// `model`. Returns the loss, or [`NonFiniteLoss`] (and leaves `model` unchanged).
    pub fn step(
        &mut self,
        model: &mut M,
        batch: Batch<D>,
        train_loss: &mut impl FnMut(&mut M, Batch<D>, Gradients<f32, D>) -> TapedLoss<D>,
    ) -> anyhow::Result<Result<f32, NonFiniteLoss>> {
        let grads = self.grads.take().unwrap_or_else(|| model.alloc_grads());
        // ANCHOR: train_step
        let loss = train_loss(model, batch, grads);
        let value = crate::losses::scalar(&loss);
        if !value.is_finite() {
            return Ok(Err(NonFiniteLoss(value)));
        }
        let mut grads = loss.backward(); // gradients of the loss w.r.t. every parameter
        self.opt
            .update(model, &grads)
            .map_err(|e| anyhow::anyhow!("optimizer update failed: {e:?}"))?;
        model.zero_grads(&mut grads); // otherwise they accumulate across steps
                                      // ANCHOR_END: train_step
        self.grads = Some(grads);
        Ok(Ok(value))
    }
}

/// An evaluation metric came out NaN or infinite: the model's outputs can no longer be scored.
///
/// ```
/// use ae_toolkit::train::EvaluationNotFinite;
/// let e = EvaluationNotFinite { epoch: 3, set: "test", metric: "kl".into(), value: f64::NAN };
/// assert!(e.to_string().starts_with("evaluation failed after epoch 3: the test set's kl is NaN"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error(
    "evaluation failed after epoch {epoch}: the {set} set's {metric} is {value}, so the model's \
     outputs can no longer be scored. Lower the learning rate, check the input range matches the \
     output activation, or resume from an earlier checkpoint."
)]
pub struct EvaluationNotFinite {
    /// The epoch just trained (0: the untrained model).
    pub epoch: usize,
    /// `"test"` or `"training"`.
    pub set: &'static str,
    /// `"loss"` or the name of a part.
    pub metric: String,
    /// The non-finite value.
    pub value: f64,
}

fn finite(eval: Eval, epoch: usize, set: &'static str) -> Result<Eval, EvaluationNotFinite> {
    let metrics = std::iter::once(("loss", eval.loss))
        .chain(eval.parts.iter().map(|(name, v)| (name.as_str(), *v)));
    for (metric, value) in metrics {
        if !value.is_finite() {
            return Err(EvaluationNotFinite {
                epoch,
                set,
                metric: metric.into(),
                value,
            });
        }
    }
    Ok(eval)
}

/// Mean test metrics over `data`, weighting each batch by its size.
///
/// ```
/// use ae_toolkit::{batch::Batch, data::{embedded, DatasetKind}, train::{evaluate, Eval}};
/// use dfdx::prelude::*;
/// let dev = Cpu::default();
/// let test = embedded(DatasetKind::Mnist).test; // 500 images: batches of 128, 128, 128, 116
/// let mean = |labels: &[u8]| labels.iter().map(|&l| l as f64).sum::<f64>() / labels.len() as f64;
/// // Each batch reports its mean label (no model needed here); the weighting recovers the exact
/// // mean over all 500 images although the last batch is smaller.
/// let e = evaluate(&(), &dev, &test, 128, &mut |_, b: &Batch<Cpu>| Eval {
///     loss: mean(&b.labels),
///     parts: vec![("ones".into(), b.labels.iter().filter(|&&l| l == 1).count() as f64 / b.len() as f64)],
/// });
/// assert!((e.loss - mean(&test.labels)).abs() < 1e-12);
/// let ones = test.labels.iter().filter(|&&l| l == 1).count() as f64 / 500.0;
/// assert_eq!(e.parts[0].0, "ones");
/// assert!((e.parts[0].1 - ones).abs() < 1e-12);
/// ```
pub fn evaluate<M, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &Dataset,
    batch_size: usize,
    eval: &mut impl FnMut(&M, &Batch<D>) -> Eval,
) -> Eval {
    let mut total = Eval::default();
    for batch in batches(dev, data, batch_size, None) {
        let w = batch.len() as f64 / data.len() as f64;
        let e = eval(model, &batch);
        total.loss += w * e.loss;
        if total.parts.is_empty() {
            total.parts = e.parts.iter().map(|(n, _)| (n.clone(), 0.0)).collect();
        }
        for ((_, acc), (_, v)) in total.parts.iter_mut().zip(&e.parts) {
            *acc += w * v;
        }
    }
    total
}

fn progress_bar(verbose: bool, steps: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if !verbose {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

fn save_metrics(history: &History, run: &RunOptions) -> anyhow::Result<()> {
    let Some(dir) = &run.run_dir else {
        return Ok(());
    };
    crate::atomic::write(&dir.join("metrics.csv"), history.to_csv().as_bytes())?;
    crate::atomic::write(
        &dir.join("metrics.json"),
        serde_json::to_string_pretty(history)?.as_bytes(),
    )
}

fn save_checkpoint<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &M,
    cfg: &TrainConfig,
    run: &RunOptions,
    history: &History,
) -> anyhow::Result<()> {
    let Some(dir) = &run.run_dir else {
        return Ok(());
    };
    // The weights go to a file of their own for this epoch, then the description that names them
    // replaces the old one, and only then are older weights removed. Whenever the process stops,
    // the description on disk names weights that exist and are the ones it describes.
    let weights = checkpoint_weights_name(history.last().epoch);
    crate::atomic::write_via_path(&dir.join(&weights), |tmp| {
        model
            .save_safetensors(tmp)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    })?;
    let meta = CheckpointMeta {
        run_name: run.run_name.clone(),
        config: cfg.clone(),
        history: history.clone(),
        weights: Some(weights.clone()),
    };
    crate::atomic::write(
        &dir.join(CHECKPOINT_META),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_checkpoint_weights(&name) && name != weights {
            std::fs::remove_file(dir.join(&name))
                .with_context(|| format!("cannot remove the old weights {}", name))?;
        }
    }
    Ok(())
}

fn resume_from<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &mut M,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<Option<CheckpointMeta>> {
    let (Some(dir), true) = (&run.run_dir, run.resume) else {
        return Ok(None);
    };
    let meta_path = dir.join(CHECKPOINT_META);
    if !meta_path.exists() {
        eprintln!(
            "note: --resume given but {} has no checkpoint; starting fresh",
            dir.display()
        );
        return Ok(None);
    }
    let meta: CheckpointMeta =
        serde_json::from_slice(&std::fs::read(&meta_path)?).with_context(|| {
            format!(
                "{} is not a valid checkpoint description",
                meta_path.display()
            )
        })?;
    // The number of epochs may grow (train 10, then resume to 20); nothing else may change.
    let comparable = |c: &TrainConfig| TrainConfig {
        epochs: 0,
        ..c.clone()
    };
    if meta.run_name != run.run_name || comparable(&meta.config) != comparable(cfg) {
        bail!(
            "the checkpoint in {} belongs to a different run ({} with {:?}); this run is {} with \
             {:?}. Use another --runs-dir or drop --resume.",
            dir.display(),
            meta.run_name,
            meta.config,
            run.run_name,
            cfg
        );
    }
    let epochs: Vec<usize> = meta.history.epochs.iter().map(|e| e.epoch).collect();
    if epochs.is_empty() || epochs.iter().enumerate().any(|(i, &e)| i != e) {
        bail!(
            "{} is damaged: its history should list epochs 0, 1, 2, … in order but lists {:?}. \
             Delete the directory {} (or drop --resume) to start the run again.",
            meta_path.display(),
            epochs,
            dir.display()
        );
    }
    let weights = dir.join(meta.weights.as_deref().unwrap_or(LEGACY_WEIGHTS));
    if !weights.is_file() {
        bail!(
            "the weights file {} named by {} is missing. Delete the directory {} (or drop \
             --resume) to start the run again.",
            weights.display(),
            meta_path.display(),
            dir.display()
        );
    }
    load_weights(model, &weights)?;
    Ok(Some(meta))
}

/// Loads weights saved by a run (or by [`dfdx`]'s `save_safetensors`) into `model`, with an error
/// naming the file when it doesn't fit the model.
///
/// ```
/// use ae_toolkit::train::load_weights;
/// use dfdx::prelude::*;
/// type Net = (Linear<784, 8>, Linear<8, 784>);
/// let dev = Cpu::seed_from_u64(0);
/// let trained = dev.build_module::<Net, f32>();
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("weights.safetensors");
/// trained.save_safetensors(&path).unwrap();
/// let mut restored = dev.build_module::<Net, f32>(); // other random weights
/// assert_ne!(restored.0.weight.as_vec(), trained.0.weight.as_vec());
/// load_weights(&mut restored, &path).unwrap();
/// assert_eq!(restored.0.weight.as_vec(), trained.0.weight.as_vec());
///
/// let mut wider = dev.build_module::<(Linear<784, 16>, Linear<16, 784>), f32>();
/// let err = load_weights(&mut wider, &path).unwrap_err().to_string();
/// assert!(err.contains("weights.safetensors") && err.contains("another shape"), "{err}");
/// ```
pub fn load_weights<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &mut M,
    path: &Path,
) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!(
            "cannot load weights from {}: the file is missing",
            path.display()
        );
    }
    model.load_safetensors(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot load weights from {}: {e:?} (was it saved by a model of another shape?)",
            path.display()
        )
    })
}
