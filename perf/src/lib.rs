//! The book's models side by side with PyTorch: what one training step and one training epoch
//! cost, measured on the CPU.
//!
//! [`models`] is the table of models. Each entry names the chapter crate, the data set, the
//! chapter's training configuration (batch size, Adam's betas) and two functions that call the
//! chapter crate's own code: one building a [`Step`] (forward with a tape, backward, Adam update,
//! zero the gradients — what `ae_toolkit::train::fit` does with the chapter's training closure
//! for every batch), and one running the chapter's `train` function for one epoch. Adding a model
//! is adding an entry; the criterion benchmark (`benches/train_step.rs`), the `perf` binary and
//! `cargo xtask perf` pick it up from here. Its PyTorch twin goes into `pytorch/train_step.py`.
//!
//! Floating-point operations are counted analytically from the widths of the `Linear` layers
//! (see [`flops_per_step`]); elementwise operations and the optimiser are not counted.

use ae_toolkit::batch::{batches, Batch};
use ae_toolkit::data::{embedded, load, DataDir, DataSource, DataSplits, Dataset, DatasetKind};
use ae_toolkit::dfdx::nn::tensor_collection::TensorCollection;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::Autoencoder;
use ae_toolkit::train::{History, NonFiniteLoss, RunOptions, TrainConfig, TrainStep};
use anyhow::Context;

/// Seed of every device and of the training configurations.
pub const SEED: u64 = 0;

/// Side of the square single-precision matrix product that measures the matmul peak.
pub const SGEMM_N: usize = 1024;

/// A loss that still carries its gradient tape (what a chapter's training closure returns).
pub type TapedLoss = ae_toolkit::train::TapedLoss<Cpu>;

/// One model of the comparison: an entry of [`models`].
pub struct Model {
    /// Identifier used by `--only`, by criterion (`train_step/<id>`) and by the PyTorch script.
    pub id: &'static str,
    /// The chapter crate the model comes from.
    pub crate_name: &'static str,
    /// Architecture and objective, for the tables.
    pub what: &'static str,
    /// The data set the chapter trains it on.
    pub dataset: DatasetKind,
    /// Pixels rescaled to `[−1, 1]` (`DataSplits::to_symmetric_range`) as the chapter does.
    pub symmetric_range: bool,
    /// The chapter's training configuration (its batch size and Adam settings); the epoch timing
    /// runs it for one epoch.
    pub config: TrainConfig,
    /// Builds the model on `dev` and returns its training step on `batch`, drawn from `train`.
    pub step: fn(dev: &Cpu, cfg: &TrainConfig, train: &Dataset, batch: Batch<Cpu>) -> Box<dyn Step>,
    /// Trains a fresh model with the chapter's own `train` function on `data`, as configured by
    /// `cfg` (one epoch).
    pub epoch: fn(dev: &Cpu, cfg: &TrainConfig, data: &DataSplits) -> anyhow::Result<History>,
}

/// One training step, repeated by the benchmark.
pub trait Step {
    /// Forward pass with a tape, backward pass, Adam update, gradients zeroed; returns the loss.
    fn step(&mut self) -> f32;
    /// `(in, out)` of every weight matrix of the model, in the order dfdx stores them.
    fn linear_shapes(&self) -> Vec<(usize, usize)>;
}

/// The models compared, chapter by chapter, at the batch sizes of their chapters.
pub fn models() -> Vec<Model> {
    use ch01_autoencoder::{Basic, Deep, PresetName, Shallow};
    vec![
        Model {
            id: "ch01-basic",
            crate_name: "ch01-autoencoder",
            what: "784-400-20-400-784, BCE per image",
            dataset: DatasetKind::Mnist,
            symmetric_range: false,
            config: ch01::config(PresetName::Basic),
            step: |dev, cfg, _, batch| ch01::step::<Basic>(dev, PresetName::Basic, cfg, batch),
            epoch: |dev, cfg, data| ch01::epoch::<Basic>(dev, PresetName::Basic, cfg, data),
        },
        Model {
            id: "ch01-deep",
            crate_name: "ch01-autoencoder",
            what: "784-128-64-32-64-128-784, sigmoid + MSE",
            dataset: DatasetKind::Mnist,
            symmetric_range: false,
            config: ch01::config(PresetName::Deep),
            step: |dev, cfg, _, batch| ch01::step::<Deep>(dev, PresetName::Deep, cfg, batch),
            epoch: |dev, cfg, data| ch01::epoch::<Deep>(dev, PresetName::Deep, cfg, data),
        },
        Model {
            id: "ch01-shallow",
            crate_name: "ch01-autoencoder",
            what: "784-32-784, BCE per pixel, Glorot init",
            dataset: DatasetKind::Mnist,
            symmetric_range: false,
            config: ch01::config(PresetName::Shallow),
            step: |dev, cfg, _, batch| ch01::step::<Shallow>(dev, PresetName::Shallow, cfg, batch),
            epoch: |dev, cfg, data| ch01::epoch::<Shallow>(dev, PresetName::Shallow, cfg, data),
        },
        Model {
            id: "ch02-sparse",
            crate_name: "ch02-sparse",
            what: "784-400-784 (sigmoid code), BCE + 3·KL(0.05‖ρ̂)",
            dataset: DatasetKind::Mnist,
            symmetric_range: false,
            config: TrainConfig::adam(1, 128),
            step: ch02::step,
            epoch: ch02::epoch,
        },
        Model {
            id: "ch03-denoising",
            crate_name: "ch03-denoising",
            what: "784-512-256-128-256-512-784, Gaussian noise σ 0.5, MSE",
            dataset: DatasetKind::FashionMnist,
            symmetric_range: true,
            config: TrainConfig {
                betas: [0.5, 0.999],
                ..TrainConfig::adam(1, 128)
            },
            step: ch03::step,
            epoch: ch03::epoch,
        },
        Model {
            id: "ch04-dropout",
            crate_name: "ch04-dropout",
            what: "784-512-256-128-256-512-784, dropout 0.2, MSE",
            dataset: DatasetKind::FashionMnist,
            symmetric_range: true,
            // The chapter also scores the training set after every epoch; that is evaluation,
            // which the epoch timing leaves out, so it is not run at all.
            config: TrainConfig {
                evaluate_train_set: false,
                ..ch04_dropout::config(1, SEED)
            },
            step: |dev, cfg, _, batch| {
                let model = ch04_dropout::WithDropout::build_on_device(dev);
                reconstruction_step(model, ReconstructionLoss::LinearMse, cfg, batch)
            },
            epoch: |dev, cfg, data| {
                let run = RunOptions::default();
                Ok(ch04_dropout::train::<ch04_dropout::WithDropout, Cpu>(dev, data, cfg, &run)?.1)
            },
        },
        Model {
            id: "ch05-vae",
            crate_name: "ch05-vae",
            what: "784-400-(20, 20) / 20-400-784, negative ELBO",
            dataset: DatasetKind::Mnist,
            symmetric_range: false,
            config: TrainConfig::adam(1, 128),
            step: ch05::step,
            epoch: ch05::epoch,
        },
        Model {
            id: "ch06-deep",
            crate_name: "ch06-beyond",
            what: "784-1000-500-250-30-250-500-1000-784, BCE per image",
            dataset: DatasetKind::Mnist,
            symmetric_range: false,
            config: TrainConfig::adam(1, 128),
            step: |dev, cfg, _, batch| {
                let model = ch06_beyond::Deep::build_on_device(dev);
                reconstruction_step(model, ReconstructionLoss::BcePerImage, cfg, batch)
            },
            epoch: |dev, cfg, data| {
                let mut model = ch06_beyond::Deep::build_on_device(dev);
                let run = RunOptions::default();
                ch06_beyond::train_bce_scored_by_squared_error(&mut model, dev, data, cfg, &run)
            },
        },
    ]
}

/// The entry of [`models`] called `id`.
pub fn find(id: &str) -> anyhow::Result<Model> {
    let all = models();
    let ids: Vec<&str> = all.iter().map(|m| m.id).collect();
    let known = ids.join(", ");
    all.into_iter()
        .find(|m| m.id == id)
        .with_context(|| format!("no model `{id}`; the models are {known}"))
}

impl Model {
    /// Images per training step.
    pub fn batch_size(&self) -> usize {
        self.config.batch_size
    }

    /// The chapter's data in the chapter's pixel range.
    fn prepare(&self, data: DataSplits) -> DataSplits {
        if self.symmetric_range {
            data.to_symmetric_range()
        } else {
            data
        }
    }

    /// The embedded subset (2,000 training images) of the model's data set, as the chapter uses it.
    pub fn subset(&self) -> DataSplits {
        self.prepare(embedded(self.dataset))
    }

    /// The full data set from `dir`, as the chapter uses it; an error if `dir` does not hold it
    /// (instead of falling back to the subset).
    pub fn full_data(&self, dir: &DataDir) -> anyhow::Result<DataSplits> {
        let data = load(self.dataset, dir)?;
        anyhow::ensure!(
            data.source != DataSource::Embedded,
            "the full {} set is not in {dir}; run `cargo xtask fetch-data`",
            self.dataset
        );
        Ok(self.prepare(data))
    }

    /// The training step on a real batch: the first `batch_size` training images of the
    /// embedded subset.
    pub fn step_on_subset(&self, dev: &Cpu) -> Box<dyn Step> {
        let data = self.subset();
        let batch = batches(dev, &data.train, self.batch_size(), None)
            .next()
            .expect("the subset holds more images than a batch");
        (self.step)(dev, &self.config, &data.train, batch)
    }

    /// Trains a fresh model for one epoch on `data` with the chapter's `train` function and
    /// returns what `fit` measured.
    pub fn one_epoch(&self, dev: &Cpu, data: &DataSplits) -> anyhow::Result<EpochTiming> {
        let cfg = TrainConfig {
            epochs: 1,
            ..self.config.clone()
        };
        let history = (self.epoch)(dev, &cfg, data)?;
        let last = history.last();
        anyhow::ensure!(last.epoch == 1, "expected one epoch, got {}", last.epoch);
        Ok(EpochTiming {
            seconds: last.seconds,
            images: data.train.len(),
            train_loss: last.train_loss.unwrap_or(f64::NAN),
        })
    }
}

/// What one epoch cost: `fit`'s own clock, which covers the shuffle, building the batches and
/// every training step, and excludes the test-set evaluation before and after the epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EpochTiming {
    /// Seconds of training.
    pub seconds: f64,
    /// Training images seen.
    pub images: usize,
    /// Mean training loss over the epoch (a sanity check, not a benchmark result).
    pub train_loss: f64,
}

/// Forward FLOPs of one step: `2·B·in·out` per `Linear` (its matrix product; biases and
/// activations are not counted).
pub fn forward_flops(linears: &[(usize, usize)], batch: usize) -> u64 {
    linears
        .iter()
        .map(|&(i, o)| 2 * (batch * i * o) as u64)
        .sum()
}

/// Backward FLOPs of one step: `4·B·in·out` per `Linear` (the gradients with respect to its input
/// and to its weights, one matrix product each).
pub fn backward_flops(linears: &[(usize, usize)], batch: usize) -> u64 {
    linears
        .iter()
        .map(|&(i, o)| 4 * (batch * i * o) as u64)
        .sum()
}

/// FLOPs of a training step, forward plus backward: `6·B·Σ in·out` over the `Linear` layers.
/// Elementwise operations (activations, losses, dropout, noise) and the Adam update are not
/// counted.
pub fn flops_per_step(linears: &[(usize, usize)], batch: usize) -> u64 {
    forward_flops(linears, batch) + backward_flops(linears, batch)
}

/// FLOPs of one `n × n` by `n × n` matrix product: `2n³`.
pub fn sgemm_flops(n: usize) -> u64 {
    2 * (n as u64).pow(3)
}

/// The product of two random `n × n` single-precision matrices through dfdx, repeated by the
/// benchmark to measure the matmul peak of this machine.
pub struct Sgemm {
    /// The left factor.
    pub a: Tensor<(usize, usize), f32, Cpu>,
    /// The right factor.
    pub b: Tensor<(usize, usize), f32, Cpu>,
}

impl Sgemm {
    /// Two random `n × n` matrices on `dev`.
    pub fn new(dev: &Cpu, n: usize) -> Self {
        Sgemm {
            a: dev.sample_normal_like(&(n, n)),
            b: dev.sample_normal_like(&(n, n)),
        }
    }

    /// One product (a new output matrix, as an ordinary `matmul` call allocates).
    pub fn run(&self) -> Tensor<(usize, usize), f32, Cpu> {
        self.a.clone().matmul(self.b.clone())
    }
}

struct Stepper<M, F> {
    model: M,
    step: TrainStep<M, Cpu>,
    batch: Batch<Cpu>,
    loss: F,
}

/// A [`Step`] of `model` on `batch`: `loss` is the chapter's training objective (the one it
/// passes to `fit`), and the step around it is `fit`'s own, [`TrainStep`].
pub fn stepper<M, F>(model: M, cfg: &TrainConfig, batch: Batch<Cpu>, loss: F) -> Box<dyn Step>
where
    M: TensorCollection<f32, Cpu> + 'static,
    F: FnMut(&mut M, Batch<Cpu>, Gradients<f32, Cpu>) -> TapedLoss + 'static,
{
    let step = TrainStep::new(&model, cfg);
    Box::new(Stepper {
        model,
        step,
        batch,
        loss,
    })
}

impl<M, F> Step for Stepper<M, F>
where
    M: TensorCollection<f32, Cpu>,
    F: FnMut(&mut M, Batch<Cpu>, Gradients<f32, Cpu>) -> TapedLoss,
{
    fn step(&mut self) -> f32 {
        // `fit` calls the same `TrainStep::step` for every batch (chapters/ae-toolkit/src/train.rs).
        let outcome = self
            .step
            .step(&mut self.model, self.batch.clone(), &mut self.loss);
        match outcome {
            Ok(Ok(loss)) => loss,
            Ok(Err(NonFiniteLoss(v))) => panic!("the benchmarked model diverged: loss {v}"),
            Err(e) => panic!("Adam's update failed: {e}"),
        }
    }

    fn linear_shapes(&self) -> Vec<(usize, usize)> {
        linear_shapes(&self.model)
    }
}

/// `(in, out)` of every 2-D parameter of `model` — in the book's models, the weights of the
/// `Linear` layers, which dfdx stores as `(out, in)`.
pub fn linear_shapes<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<(usize, usize)> {
    // The toolkit's walk over a module's tensors (it also copies their values: once per model).
    ae_toolkit::export::module_tensors(model)
        .into_iter()
        .filter(|(_, shape, _)| shape.len() == 2)
        .map(|(_, shape, _)| (shape[1], shape[0]))
        .collect()
}

/// The step of a model trained to reconstruct its input with `loss` — the closure of
/// `ae_toolkit::model::train_reconstruction`, which Chapters 1 and 4 train with.
fn reconstruction_step<M>(
    model: M,
    loss: ReconstructionLoss,
    cfg: &TrainConfig,
    batch: Batch<Cpu>,
) -> Box<dyn Step>
where
    M: Autoencoder<Cpu> + 'static,
{
    stepper(model, cfg, batch, move |m, batch, grads| {
        ae_toolkit::model::reconstruction_loss(m, batch.x, grads, loss)
    })
}

mod ch01 {
    use super::*;
    use ch01_autoencoder::{glorot_uniform, Init, PresetName};

    pub fn config(preset: PresetName) -> TrainConfig {
        ch01_autoencoder::config(&preset.preset(), SEED, Some(1))
    }

    pub fn step<M>(
        dev: &Cpu,
        preset: PresetName,
        cfg: &TrainConfig,
        batch: Batch<Cpu>,
    ) -> Box<dyn Step>
    where
        M: BuildOnDevice<Cpu, f32>,
        M::Built: Autoencoder<Cpu> + 'static,
    {
        let p = preset.preset();
        let mut model = M::build_on_device(dev);
        if p.init == Init::Glorot {
            glorot_uniform(&mut model);
        }
        reconstruction_step(model, p.loss, cfg, batch)
    }

    pub fn epoch<M>(
        dev: &Cpu,
        preset: PresetName,
        cfg: &TrainConfig,
        data: &DataSplits,
    ) -> anyhow::Result<History>
    where
        M: BuildOnDevice<Cpu, f32>,
        M::Built: Autoencoder<Cpu>,
    {
        let p = preset.preset();
        let run = RunOptions::default();
        Ok(ch01_autoencoder::train::<M, Cpu>(dev, &p, p.init, data, cfg, &run)?.history)
    }
}

mod ch02 {
    use super::*;
    use ch02_sparse::{sparse_loss, Penalty, SparseAutoencoder, BETA, RHO};

    /// The chapter's main model: its ρ and β (the defaults of its `reproduce` example).
    const PENALTY: Penalty = Penalty::Kl {
        rho: RHO,
        beta: BETA,
    };

    pub fn step(dev: &Cpu, cfg: &TrainConfig, _: &Dataset, batch: Batch<Cpu>) -> Box<dyn Step> {
        let model = SparseAutoencoder::build_on_device(dev);
        stepper(model, cfg, batch, |m, batch, grads| {
            sparse_loss(m, batch.x, grads, PENALTY)
        })
    }

    pub fn epoch(dev: &Cpu, cfg: &TrainConfig, data: &DataSplits) -> anyhow::Result<History> {
        let run = RunOptions::default();
        Ok(ch02_sparse::train(dev, data, PENALTY, RHO, cfg, &run)?.1)
    }
}

mod ch03 {
    use super::*;
    use ch03_denoising::{training_objective, DenoisingAutoencoder, Noise, SIGMA};

    /// The chapter's main corruption (the default of its `reproduce` example).
    const NOISE: Noise = Noise::Gaussian { sigma: SIGMA };

    pub fn step(dev: &Cpu, cfg: &TrainConfig, train: &Dataset, batch: Batch<Cpu>) -> Box<dyn Step> {
        let model = DenoisingAutoencoder::build_on_device(dev);
        // The chapter's training objective: fresh noise on the batch's pixels at every step.
        let objective = training_objective(dev.clone(), train.clone(), NOISE, cfg.seed);
        stepper(model, cfg, batch, objective)
    }

    pub fn epoch(dev: &Cpu, cfg: &TrainConfig, data: &DataSplits) -> anyhow::Result<History> {
        let run = RunOptions::default();
        Ok(ch03_denoising::train(dev, data, NOISE, cfg, &run)?.1)
    }
}

mod ch05 {
    use super::*;
    use ch05_vae::{training_objective, Vae, LATENT};

    /// The chapter's main model: β = 1, the plain negative ELBO.
    const BETA: f32 = 1.0;

    pub fn step(dev: &Cpu, cfg: &TrainConfig, _: &Dataset, batch: Batch<Cpu>) -> Box<dyn Step> {
        let model = Vae::<LATENT>::build_on_device(dev);
        stepper(
            model,
            cfg,
            batch,
            training_objective::<LATENT, Cpu>(dev.clone(), BETA),
        )
    }

    pub fn epoch(dev: &Cpu, cfg: &TrainConfig, data: &DataSplits) -> anyhow::Result<History> {
        let run = RunOptions::default();
        Ok(ch05_vae::train::<LATENT, Cpu>(dev, data, BETA, cfg, &run)?.1)
    }
}
