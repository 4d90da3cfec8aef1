//! The training loop every chapter uses: Adam, shuffled mini-batches, a test evaluation after
//! every epoch, a progress bar, metrics as CSV and JSON, a NaN guard, and atomic checkpoints that
//! `--resume` continues from.
//!
//! The loop is generic over the model `M`, the device `D` and the objective: a chapter passes one
//! closure computing the training loss on a batch (recording the gradient tape) and one
//! evaluating a batch without a tape.

use std::time::Instant;

use anyhow::bail;
use dfdx::optim::{Adam, Optimizer};
use dfdx::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::batch::{batch_count, batches, epoch_order, Batch};
pub use crate::checkpoint::{
    checkpoint_optimiser_name, checkpoint_weights_name, load_weights, CHECKPOINT_META,
};
use crate::checkpoint::{resume_from, save_checkpoint, save_metrics};
pub use crate::config::{LearningRateSchedule, RunOptions, TrainConfig};
use crate::data::{DataSplits, Dataset};
pub use crate::history::{EpochRecord, History, Metrics};

/// Stopped because the loss became NaN or infinite.
///
/// [`fit`] returns it inside its `anyhow::Error`:
///
/// ```
/// use ae_toolkit::batch::Batch;
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::losses::mse_per_pixel;
/// use ae_toolkit::train::{fit, Diverged, Metrics, RunOptions, TrainConfig};
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
///     |_, _| Metrics::loss_only(0.0),
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

/// Trains `model` on `data.train`, evaluating on `data.test` before training and after every
/// epoch.
///
/// `train_loss(model, batch, grads)` must run the model on a traced input (`x.traced(grads)`) and
/// return the loss carrying the tape; `batch_metrics(model, batch)` runs it without a tape and returns the
/// batch's mean metrics. Weighted by batch size, these give exact test-set means.
///
/// ```
/// use ae_toolkit::batch::Batch;
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::losses::{mse_per_pixel, scalar_value};
/// use ae_toolkit::train::{fit, Metrics, RunOptions, TrainConfig};
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
///     |m, batch| Metrics::loss_only(scalar_value(&mse_per_pixel(m.forward(batch.x.clone()), batch.x.clone())) as f64),
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
    mut batch_metrics: impl FnMut(&M, &Batch<D>) -> Metrics,
) -> anyhow::Result<History>
where
    D: Device<f32>,
    M: TensorCollection<f32, D>,
{
    let batch_size = cfg.eval_batch_size;
    fit_evaluating_sets(model, dev, data, cfg, run, train_loss, |m, set| {
        mean_metrics(m, dev, set, batch_size, &mut batch_metrics)
    })
}

/// [`fit`] for metrics that are not means over batches: `set_metrics(model, set)` scores a whole
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
    mut set_metrics: impl FnMut(&M, &Dataset) -> Metrics,
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
    let mut stepper = TrainStep::new(model, cfg);
    if let Some(meta) = resume_from(model, &mut stepper.opt, cfg, run)? {
        history = meta.history;
    } else {
        history.epochs.push(EpochRecord {
            epoch: 0,
            train_loss: None,
            test: finite(set_metrics(model, test), 0, "test")?,
            train_eval: cfg
                .evaluate_train_set
                .then(|| set_metrics(model, train))
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

    let steps = batch_count(train.len(), cfg.batch_size);
    for epoch in start_epoch..=cfg.epochs {
        stepper.opt.cfg.lr = cfg.learning_rate_at(epoch);
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
            test: finite(set_metrics(model, test), epoch, "test")?,
            train_eval: cfg
                .evaluate_train_set
                .then(|| set_metrics(model, train))
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
        save_checkpoint(model, &stepper.opt, cfg, run, &history)?;
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
/// use ae_toolkit::{batch::batches, data::{embedded, DatasetKind}, losses::ReconstructionLoss};
/// use ae_toolkit::model::reconstruction_loss;
/// use ae_toolkit::train::{TrainConfig, TrainStep};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let mut model = dev.build_module::<((Linear<784, 8>, ReLU), Linear<8, 784>), f32>();
/// let mut step = TrainStep::new(&model, &TrainConfig::adam(1, 50));
/// let batch = batches(&dev, &embedded(DatasetKind::Mnist).test.head(50), 50, None).next().unwrap();
/// let mut objective = |m: &mut _, b: ae_toolkit::batch::Batch<Cpu>, g| {
///     reconstruction_loss(m, b.x, g, ReconstructionLoss::BcePerImage)
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
        let value = crate::losses::scalar_value(&loss);
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

fn finite(
    metrics: Metrics,
    epoch: usize,
    set: &'static str,
) -> Result<Metrics, EvaluationNotFinite> {
    let named = std::iter::once(("loss", metrics.loss))
        .chain(metrics.parts.iter().map(|(name, v)| (name.as_str(), *v)));
    for (metric, value) in named {
        if !value.is_finite() {
            return Err(EvaluationNotFinite {
                epoch,
                set,
                metric: metric.into(),
                value,
            });
        }
    }
    Ok(metrics)
}

/// Mean metrics over `data`: `batch_metrics` of every batch, weighted by the batch's size.
///
/// ```
/// use ae_toolkit::{batch::Batch, data::{embedded, DatasetKind}, train::{mean_metrics, Metrics}};
/// use dfdx::prelude::*;
/// let dev = Cpu::default();
/// let test = embedded(DatasetKind::Mnist).test; // 500 images: batches of 128, 128, 128, 116
/// let mean = |labels: &[u8]| labels.iter().map(|&l| l as f64).sum::<f64>() / labels.len() as f64;
/// // Each batch reports its mean label (no model needed here); the weighting recovers the exact
/// // mean over all 500 images although the last batch is smaller.
/// let e = mean_metrics(&(), &dev, &test, 128, &mut |_, b: &Batch<Cpu>| Metrics {
///     loss: mean(&b.labels),
///     parts: vec![("ones".into(), b.labels.iter().filter(|&&l| l == 1).count() as f64 / b.len() as f64)],
/// });
/// assert!((e.loss - mean(&test.labels)).abs() < 1e-12);
/// let ones = test.labels.iter().filter(|&&l| l == 1).count() as f64 / 500.0;
/// assert_eq!(e.parts[0].0, "ones");
/// assert!((e.parts[0].1 - ones).abs() < 1e-12);
/// ```
pub fn mean_metrics<M, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &Dataset,
    batch_size: usize,
    batch_metrics: &mut impl FnMut(&M, &Batch<D>) -> Metrics,
) -> Metrics {
    let mut total = Metrics::default();
    for batch in batches(dev, data, batch_size, None) {
        let w = batch.len() as f64 / data.len() as f64;
        let e = batch_metrics(model, &batch);
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
