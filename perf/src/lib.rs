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
//! Floating-point operations are counted analytically from the matrix products of the layers
//! with weights — a `Linear` layer's, and the one a convolution runs on its unfolded patches (see
//! [`MatrixProduct`] and [`flops_per_step`]); elementwise operations, pooling and the optimiser
//! are not counted.

use ae_toolkit::batch::{batches, Batch};
use ae_toolkit::conv::builder::{Crop2D, Flatten2D, MaxPool2D, Unflatten2D, Upsample2D};
use ae_toolkit::conv::{conv_output_size, conv_trans_output_size};
use ae_toolkit::data::{
    embedded, load, DataDir, DataSource, DataSplits, Dataset, DatasetKind, PIXELS,
};
use ae_toolkit::dfdx::nn::modules::Linear;
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
    /// The matrix product of every layer with weights, in the order dfdx stores them.
    fn matrix_products(&self) -> Vec<MatrixProduct>;
}

/// The matrix product one layer runs per image, which the FLOP count counts.
///
/// A `Linear` layer multiplies an image's vector by its `inputs × outputs` matrix once
/// (`positions` 1). A convolution multiplies, at each of its output positions, the unfolded
/// `IN·K·K` patch under it by its `(IN·K·K) × OUT` matrix — what dfdx's CPU kernel and PyTorch's
/// both do. A transposed convolution multiplies, at each of its *input* positions, the `IN`
/// values there by its `IN × (OUT·K·K)` matrix and scatters the products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct MatrixProduct {
    /// Rows of the weight matrix: values multiplied per position.
    pub inputs: usize,
    /// Columns of the weight matrix.
    pub outputs: usize,
    /// How many times per image the product runs.
    pub positions: usize,
}

impl MatrixProduct {
    /// A `Linear` layer's product: once per image.
    pub fn linear(inputs: usize, outputs: usize) -> Self {
        MatrixProduct {
            inputs,
            outputs,
            positions: 1,
        }
    }
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
                let products = linear_products(&model);
                reconstruction_step(model, products, ReconstructionLoss::LinearMse, cfg, batch)
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
                let products = linear_products(&model);
                reconstruction_step(model, products, ReconstructionLoss::BcePerImage, cfg, batch)
            },
            epoch: |dev, cfg, data| {
                let mut model = ch06_beyond::Deep::build_on_device(dev);
                let run = RunOptions::default();
                ch06_beyond::train_bce_scored_by_squared_error(
                    &mut model, dev, data, cfg, 0.0, &run,
                )
            },
        },
        Model {
            id: "ch07-conv",
            crate_name: "ch07-convolutional",
            what: "3×3 convolutions 1-16-8-8 with max-pooling to 4×4×8, 8-8-16-1 with \
                   upsampling back, BCE per image",
            dataset: DatasetKind::Mnist,
            symmetric_range: false,
            config: TrainConfig::adam(1, 128),
            step: |dev, cfg, _, batch| {
                let model = ch07_convolutional::ConvAutoencoder::build_on_device(dev);
                let products = image_products(&model);
                reconstruction_step(model, products, ch07_convolutional::LOSS, cfg, batch)
            },
            epoch: |dev, cfg, data| {
                let mut model = ch07_convolutional::ConvAutoencoder::build_on_device(dev);
                let run = RunOptions::default();
                ch07_convolutional::train_conv(&mut model, dev, data, cfg, &run)
            },
        },
        Model {
            id: "ch07-vae",
            crate_name: "ch07-convolutional",
            what: "strided 3×3 convolutions 1-32-64, (μ, log σ²) heads of 20; dense to 7×7×32, \
                   transposed convolutions 64-32-1; negative ELBO",
            dataset: DatasetKind::Mnist,
            symmetric_range: false,
            config: TrainConfig::adam(1, 128),
            step: ch07_vae::step,
            epoch: ch07_vae::epoch,
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

/// Forward FLOPs of one step: `2·B·positions·inputs·outputs` per layer (its matrix products;
/// biases, activations and pooling are not counted).
pub fn forward_flops(products: &[MatrixProduct], batch: usize) -> u64 {
    products
        .iter()
        .map(|p| 2 * (batch * p.positions * p.inputs * p.outputs) as u64)
        .sum()
}

/// Backward FLOPs of one step: `4·B·positions·inputs·outputs` per layer (the gradients with
/// respect to its input and to its weights, one matrix product each).
pub fn backward_flops(products: &[MatrixProduct], batch: usize) -> u64 {
    2 * forward_flops(products, batch)
}

/// FLOPs of a training step, forward plus backward: `6·B·Σ positions·inputs·outputs` over the
/// layers with weights. Elementwise operations (activations, losses, dropout, noise), pooling,
/// upsampling and the Adam update are not counted.
pub fn flops_per_step(products: &[MatrixProduct], batch: usize) -> u64 {
    forward_flops(products, batch) + backward_flops(products, batch)
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
    products: Vec<MatrixProduct>,
    step: TrainStep<M, Cpu>,
    batch: Batch<Cpu>,
    loss: F,
}

/// A [`Step`] of `model`, a network of `Linear` layers, on `batch`: `loss` is the chapter's
/// training objective (the one it passes to `fit`), and the step around it is `fit`'s own,
/// [`TrainStep`].
pub fn stepper<M, F>(model: M, cfg: &TrainConfig, batch: Batch<Cpu>, loss: F) -> Box<dyn Step>
where
    M: TensorCollection<f32, Cpu> + 'static,
    F: FnMut(&mut M, Batch<Cpu>, Gradients<f32, Cpu>) -> TapedLoss + 'static,
{
    let products = linear_products(&model);
    stepper_with_products(model, products, cfg, batch, loss)
}

/// [`stepper`] for a model whose matrix products are `products` (a convolutional one's, from
/// [`image_products`]).
pub fn stepper_with_products<M, F>(
    model: M,
    products: Vec<MatrixProduct>,
    cfg: &TrainConfig,
    batch: Batch<Cpu>,
    loss: F,
) -> Box<dyn Step>
where
    M: TensorCollection<f32, Cpu> + 'static,
    F: FnMut(&mut M, Batch<Cpu>, Gradients<f32, Cpu>) -> TapedLoss + 'static,
{
    let step = TrainStep::new(&model, cfg);
    Box::new(Stepper {
        model,
        products,
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

    fn matrix_products(&self) -> Vec<MatrixProduct> {
        self.products.clone()
    }
}

/// The matrix products of a network of `Linear` layers: one per 2-D parameter (dfdx stores a
/// `Linear`'s weights as `(out, in)`).
///
/// # Panics
/// On a model with weights of more than two dimensions (a convolution's): their products depend
/// on the image sizes, which only [`image_products`] follows.
pub fn linear_products<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<MatrixProduct> {
    // The toolkit's walk over a module's tensors (it also copies their values: once per model).
    let tensors = ae_toolkit::export::module_tensors(model);
    if let Some((name, shape, _)) = tensors.iter().find(|(_, shape, _)| shape.len() > 2) {
        panic!("{name} has shape {shape:?}: count a convolutional model with image_products");
    }
    tensors
        .into_iter()
        .filter(|(_, shape, _)| shape.len() == 2)
        .map(|(_, shape, _)| MatrixProduct::linear(shape[1], shape[0]))
        .collect()
}

/// The matrix products of `model` on one MNIST image, in the order of its layers.
pub fn image_products<M: ImageLayers>(model: &M) -> Vec<MatrixProduct> {
    let mut products = Vec::new();
    model.walk([PIXELS, 1, 1], &mut products);
    products
}

/// The shape of one image between two layers: channels, height, width; a flat vector of `n`
/// values is `[n, 1, 1]`.
pub type ImageShape = [usize; 3];

/// What a layer does to the shape of one image, and the matrix products it runs on it: how the
/// FLOP count follows a convolutional model through its types, with the toolkit's output-size
/// formulas (`ae_toolkit::conv`).
pub trait ImageLayers {
    /// The shape out of the layer for an image of shape `input`; the layer's matrix products
    /// (if it has weights) appended to `products`.
    fn walk(&self, input: ImageShape, products: &mut Vec<MatrixProduct>) -> ImageShape;
}

/// The output size of a convolution or pooling window that the model's own forward pass
/// accepted.
fn fitted(size: Option<usize>, layer: &str, input: ImageShape) -> usize {
    size.unwrap_or_else(|| panic!("{layer} does not fit an input of shape {input:?}"))
}

impl<const I: usize, const O: usize> ImageLayers for Linear<I, O, f32, Cpu> {
    fn walk(&self, input: ImageShape, products: &mut Vec<MatrixProduct>) -> ImageShape {
        assert_eq!(input.iter().product::<usize>(), I, "Linear<{I}, {O}> input");
        products.push(MatrixProduct::linear(I, O));
        [O, 1, 1]
    }
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize> ImageLayers
    for ae_toolkit::conv::Conv2D<I, O, K, S, P, f32, Cpu>
{
    fn walk(&self, [c, h, w]: ImageShape, products: &mut Vec<MatrixProduct>) -> ImageShape {
        assert_eq!(c, I, "Conv2D<{I}, {O}, {K}> input channels");
        let size = |n| fitted(conv_output_size(n, K, S, P), "Conv2D", [c, h, w]);
        let (oh, ow) = (size(h), size(w));
        products.push(MatrixProduct {
            inputs: I * K * K,
            outputs: O,
            positions: oh * ow,
        });
        [O, oh, ow]
    }
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize> ImageLayers
    for ae_toolkit::conv::ConvTrans2D<I, O, K, S, P, f32, Cpu>
{
    fn walk(&self, [c, h, w]: ImageShape, products: &mut Vec<MatrixProduct>) -> ImageShape {
        assert_eq!(c, I, "ConvTrans2D<{I}, {O}, {K}> input channels");
        let size = |n| fitted(conv_trans_output_size(n, K, S, P), "ConvTrans2D", [c, h, w]);
        products.push(MatrixProduct {
            inputs: I,
            outputs: O * K * K,
            positions: h * w,
        });
        [O, size(h), size(w)]
    }
}

impl<const K: usize, const S: usize, const P: usize> ImageLayers for MaxPool2D<K, S, P> {
    fn walk(&self, [c, h, w]: ImageShape, _: &mut Vec<MatrixProduct>) -> ImageShape {
        let size = |n| fitted(conv_output_size(n, K, S, P), "MaxPool2D", [c, h, w]);
        [c, size(h), size(w)]
    }
}

impl<const F: usize> ImageLayers for Upsample2D<F> {
    fn walk(&self, [c, h, w]: ImageShape, _: &mut Vec<MatrixProduct>) -> ImageShape {
        [c, h * F, w * F]
    }
}

impl<const LEAD: usize, const TRAIL: usize> ImageLayers for Crop2D<LEAD, TRAIL> {
    fn walk(&self, [c, h, w]: ImageShape, _: &mut Vec<MatrixProduct>) -> ImageShape {
        [c, h - LEAD - TRAIL, w - LEAD - TRAIL]
    }
}

impl<const C: usize, const H: usize, const W: usize> ImageLayers for Unflatten2D<C, H, W> {
    fn walk(&self, input: ImageShape, _: &mut Vec<MatrixProduct>) -> ImageShape {
        assert_eq!(
            input.iter().product::<usize>(),
            C * H * W,
            "Unflatten2D input"
        );
        [C, H, W]
    }
}

impl<const N: usize> ImageLayers for Flatten2D<N> {
    fn walk(&self, input: ImageShape, _: &mut Vec<MatrixProduct>) -> ImageShape {
        assert_eq!(input.iter().product::<usize>(), N, "Flatten2D<{N}> input");
        [N, 1, 1]
    }
}

/// Every branch reads the same input; the shape out is the first branch's (a VAE's μ, which
/// the decoder reads in the form of a sample z of the same shape).
impl<A: ImageLayers, B: ImageLayers> ImageLayers for SplitInto<(A, B)> {
    fn walk(&self, input: ImageShape, products: &mut Vec<MatrixProduct>) -> ImageShape {
        let first = self.0 .0.walk(input, products);
        self.0 .1.walk(input, products);
        first
    }
}

/// Activations keep the shape and run no matrix product.
macro_rules! shape_preserving {
    ($($layer:ty),*) => {$(
        impl ImageLayers for $layer {
            fn walk(&self, input: ImageShape, _: &mut Vec<MatrixProduct>) -> ImageShape {
                input
            }
        }
    )*};
}
shape_preserving!(ReLU, Sigmoid, Tanh);

/// A tuple of layers runs them in order, as dfdx's `Module` for tuples does.
macro_rules! sequential {
    ($($layer:ident),+) => {
        impl<$($layer: ImageLayers),+> ImageLayers for ($($layer,)+) {
            #[allow(non_snake_case)]
            fn walk(&self, input: ImageShape, products: &mut Vec<MatrixProduct>) -> ImageShape {
                let ($($layer,)+) = self;
                let shape = input;
                $(let shape = $layer.walk(shape, products);)+
                shape
            }
        }
    };
}
sequential!(A);
sequential!(A, B);
sequential!(A, B, C);
sequential!(A, B, C, D);
sequential!(A, B, C, D, E);
sequential!(A, B, C, D, E, F);

/// The step of a model trained to reconstruct its input with `loss` — the closure of
/// `ae_toolkit::model::train_reconstruction`, which Chapters 1, 4, 6 and 7 train with.
fn reconstruction_step<M>(
    model: M,
    products: Vec<MatrixProduct>,
    loss: ReconstructionLoss,
    cfg: &TrainConfig,
    batch: Batch<Cpu>,
) -> Box<dyn Step>
where
    M: Autoencoder<Cpu> + 'static,
{
    stepper_with_products(model, products, cfg, batch, move |m, batch, grads| {
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
        let products = linear_products(&model);
        reconstruction_step(model, products, p.loss, cfg, batch)
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
            training_objective::<LATENT, Cpu, _>(dev.clone(), BETA),
        )
    }

    pub fn epoch(dev: &Cpu, cfg: &TrainConfig, data: &DataSplits) -> anyhow::Result<History> {
        let run = RunOptions::default();
        Ok(ch05_vae::train::<LATENT, Cpu>(dev, data, BETA, cfg, &run)?.1)
    }
}

mod ch07_vae {
    use super::*;
    use ch05_vae::{training_objective, LATENT};
    use ch07_convolutional::vae::ConvVae;

    /// The chapter trains it like Chapter 5's VAE: the plain negative ELBO, Chapter 5's latent
    /// size.
    const BETA: f32 = 1.0;

    pub fn step(dev: &Cpu, cfg: &TrainConfig, _: &Dataset, batch: Batch<Cpu>) -> Box<dyn Step> {
        let model = ConvVae::<LATENT>::build_on_device(dev);
        let products = image_products(&model);
        let objective = training_objective::<LATENT, Cpu, _>(dev.clone(), BETA);
        stepper_with_products(model, products, cfg, batch, objective)
    }

    pub fn epoch(dev: &Cpu, cfg: &TrainConfig, data: &DataSplits) -> anyhow::Result<History> {
        let mut model = ConvVae::<LATENT>::build_on_device(dev);
        let run = RunOptions::default();
        ch05_vae::train_model(&mut model, dev, data, BETA, cfg, &run)
    }
}
