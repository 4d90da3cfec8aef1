//! What the chapters' models have in common: an encoder and a decoder, stored as the dfdx tuple
//! `(encoder, decoder)`, whose decoder ends in logits of a 784-pixel image.

use dfdx::prelude::*;

use crate::batch::{Batch, Images};
use crate::data::{DataSplits, Dataset};
use crate::losses::{scalar_value, ReconstructionLoss};
use crate::train::{fit, History, Metrics, RunOptions, TrainConfig};

/// Codes of a batch: `(batch, K)`.
///
/// ```
/// use ae_toolkit::{batch::Images, data::PIXELS, model::Codes};
/// use dfdx::prelude::*;
/// let dev = Cpu::default();
/// let encoder = dev.build_module::<(Linear<784, 32>, ReLU, Linear<32, 2>), f32>();
/// let x: Images<Cpu> = dev.zeros_like(&(5, Const::<PIXELS>));
/// let codes: Codes<2, Cpu> = encoder.forward(x);
/// assert_eq!(codes.shape().concrete(), [5, 2]);
/// ```
pub type Codes<const K: usize, D, T = NoneTape> = Tensor<(usize, Const<K>), f32, D, T>;

/// A built `(encoder, decoder)` pair mapping images to `K`-dimensional codes and back to logits.
///
/// Implemented for every tuple of dfdx modules with those shapes, so a chapter only writes the
/// type alias: `type Basic = ((Linear<784, 400>, ReLU, Linear<400, 20>), (Linear<20, 400>, ReLU,
/// Linear<400, 784>));`.
///
/// ```
/// use ae_toolkit::{data::{embedded, DatasetKind, PIXELS}, losses::ReconstructionLoss, model::Autoencoder};
/// use dfdx::prelude::*;
/// type Tiny = ((Linear<784, 64>, ReLU, Linear<64, 8>), (Linear<8, 64>, ReLU, Linear<64, 784>));
/// fn latent<M: Autoencoder<Cpu>>(_: &M) -> usize {
///     M::LATENT
/// }
/// let dev = Cpu::seed_from_u64(0);
/// let mut model = dev.build_module::<Tiny, f32>();
/// assert_eq!(latent(&model), 8);
/// let test = embedded(DatasetKind::Mnist).test.head(4);
/// let x = dev.tensor_from_vec(test.images, (4, Const::<PIXELS>));
/// assert_eq!(model.encode(x.clone()).len(), 4 * 8);
/// assert_eq!(model.logits(x.clone()).shape().concrete(), [4, 784]);
/// // The traced forward pass records what `backward` needs to reach the encoder's weights.
/// let grads = model.alloc_grads();
/// let loss = ReconstructionLoss::BcePerImage.loss(model.logits_traced(x.clone().traced(grads)), x);
/// let grads = loss.backward();
/// assert!(grads.get(&model.0 .0.weight).as_vec().iter().any(|&g| g != 0.0));
/// ```
pub trait Autoencoder<D: Device<f32>>: TensorCollection<f32, D> {
    /// Width of the code (the bottleneck).
    const LATENT: usize;
    /// Logits of the reconstruction, without recording a tape (inference).
    fn logits(&self, x: Images<D>) -> Images<D>;
    /// Logits of the reconstruction, recording the tape carried by `x` (training).
    fn logits_traced(&mut self, x: Images<D, OwnedTape<f32, D>>) -> Images<D, OwnedTape<f32, D>>;
    /// The codes of a batch as a row-major `(batch, LATENT)` vector.
    fn encode(&self, x: Images<D>) -> Vec<f32>;
}

impl<E, Dec, D, const K: usize> Autoencoder<D> for (E, Dec)
where
    D: Device<f32>,
    E: TensorCollection<f32, D>
        + Module<Images<D>, Output = Codes<K, D>>
        + ModuleMut<Images<D, OwnedTape<f32, D>>, Output = Codes<K, D, OwnedTape<f32, D>>>,
    Dec: TensorCollection<f32, D>
        + Module<Codes<K, D>, Output = Images<D>>
        + ModuleMut<Codes<K, D, OwnedTape<f32, D>>, Output = Images<D, OwnedTape<f32, D>>>,
{
    const LATENT: usize = K;
    fn logits(&self, x: Images<D>) -> Images<D> {
        self.1.forward(self.0.forward(x))
    }
    fn logits_traced(&mut self, x: Images<D, OwnedTape<f32, D>>) -> Images<D, OwnedTape<f32, D>> {
        self.1.forward_mut(self.0.forward_mut(x))
    }
    fn encode(&self, x: Images<D>) -> Vec<f32> {
        self.0.forward(x).as_vec()
    }
}

/// The training loss of one batch: the model's reconstruction of `x`, traced into `grads`, scored
/// against `x` itself. What [`train_reconstruction`] minimises at every step.
///
/// ```
/// use ae_toolkit::{data::{embedded, DatasetKind, PIXELS}, losses::ReconstructionLoss, model::*};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let mut model = dev.build_module::<((Linear<784, 8>, ReLU), Linear<8, 784>), f32>();
/// let x = dev.tensor_from_vec(embedded(DatasetKind::Mnist).test.head(2).images, (2, Const::<PIXELS>));
/// let grads = model.alloc_grads();
/// let loss = reconstruction_loss(&mut model, x.clone(), grads, ReconstructionLoss::BcePerImage);
/// // The same value as the loss of the untraced forward pass.
/// let plain = ReconstructionLoss::BcePerImage.loss(model.logits(x.clone()), x);
/// assert!((loss.array() - plain.array()).abs() < 1e-4);
/// ```
pub fn reconstruction_loss<M: Autoencoder<D>, D: Device<f32>>(
    model: &mut M,
    x: Images<D>,
    grads: Gradients<f32, D>,
    loss: ReconstructionLoss,
) -> Tensor<Rank0, f32, D, OwnedTape<f32, D>> {
    let logits = model.logits_traced(x.clone().traced(grads));
    loss.loss(logits, x)
}

/// Trains an autoencoder to reconstruct its (clean) input with the given loss; the test metric
/// is the same loss. This is Chapter 1's objective; later chapters pass their own closures to
/// [`fit`].
///
/// ```
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::losses::ReconstructionLoss;
/// use ae_toolkit::model::train_reconstruction;
/// use ae_toolkit::train::{RunOptions, TrainConfig};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let full = embedded(DatasetKind::Mnist);
/// let data = DataSplits { train: full.train.head(200), test: full.test.head(100), ..full };
/// let mut model = dev.build_module::<((Linear<784, 32>, ReLU), Linear<32, 784>), f32>();
/// let cfg = TrainConfig::adam(1, 20);
/// let loss = ReconstructionLoss::BcePerImage;
/// let history = train_reconstruction(&mut model, &dev, &data, loss, &cfg, &RunOptions::default())
///     .unwrap();
/// let (before, after) = (history.untrained_test_loss(), history.last().test.loss);
/// assert!(after < before, "{before} -> {after}");
/// ```
pub fn train_reconstruction<M: Autoencoder<D>, D: Device<f32>>(
    model: &mut M,
    dev: &D,
    data: &DataSplits,
    loss: ReconstructionLoss,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<History> {
    fit(
        model,
        dev,
        data,
        cfg,
        run,
        |m, batch: Batch<D>, grads| reconstruction_loss(m, batch.x, grads, loss),
        |m, batch| {
            Metrics::loss_only(
                scalar_value(&loss.loss(m.logits(batch.x.clone()), batch.x.clone())) as f64,
            )
        },
    )
}

/// Builds model `M` on `dev` and trains it with [`train_reconstruction`]: how a chapter trains
/// a network it names only by its type.
///
/// ```
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::losses::ReconstructionLoss;
/// use ae_toolkit::model::build_and_train;
/// use ae_toolkit::train::{RunOptions, TrainConfig};
/// use dfdx::prelude::*;
/// type Model = ((Linear<784, 32>, ReLU), Linear<32, 784>);
/// let dev = Cpu::seed_from_u64(0);
/// let full = embedded(DatasetKind::Mnist);
/// let data = DataSplits { train: full.train.head(200), test: full.test.head(100), ..full };
/// let (cfg, run) = (TrainConfig::adam(1, 20), RunOptions::default());
/// let loss = ReconstructionLoss::LinearMse;
/// let (model, history) = build_and_train::<Model, _>(&dev, &data, loss, &cfg, &run).unwrap();
/// assert!(history.last().test.loss < history.untrained_test_loss());
/// assert_eq!(model.0 .0.weight.shape().concrete(), [32, 784]);
/// ```
pub fn build_and_train<M, D>(
    dev: &D,
    data: &DataSplits,
    loss: ReconstructionLoss,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<(M::Built, History)>
where
    D: Device<f32>,
    M: BuildOnDevice<D, f32>,
    M::Built: Autoencoder<D>,
{
    let mut model = M::build_on_device(dev);
    let history = train_reconstruction(&mut model, dev, data, loss, cfg, run)?;
    Ok((model, history))
}

/// Reconstructions (in the data's range) of the first `n` images of `data`, row-major.
///
/// ```
/// use ae_toolkit::{data::{embedded, DatasetKind, PIXELS}, losses::ReconstructionLoss, model::reconstruct};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let model = dev.build_module::<((Linear<784, 32>, ReLU), Linear<32, 784>), f32>();
/// let test = embedded(DatasetKind::Mnist).test;
/// let pixels = reconstruct(&model, &dev, &test, 3, ReconstructionLoss::BcePerImage);
/// assert_eq!(pixels.len(), 3 * PIXELS);
/// // A sigmoid output is σ of what a linear output returns as it is.
/// let logits = reconstruct(&model, &dev, &test, 3, ReconstructionLoss::LinearMse);
/// let sigmoid = |z: f32| 1.0 / (1.0 + (-z).exp());
/// assert!(pixels.iter().zip(&logits).all(|(p, &z)| (p - sigmoid(z)).abs() < 1e-6));
/// ```
pub fn reconstruct<M: Autoencoder<D>, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &Dataset,
    n: usize,
    loss: ReconstructionLoss,
) -> Vec<f32> {
    let head = data.head(n);
    let x = dev.tensor_from_vec(
        head.images,
        (head.labels.len(), Const::<{ crate::data::PIXELS }>),
    );
    loss.output(model.logits(x)).as_vec()
}

/// Codes of every image of `data`, row-major `(len, LATENT)`, computed in batches.
///
/// ```
/// use ae_toolkit::{data::{embedded, DatasetKind, PIXELS}, model::{encode_all, Autoencoder}};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let model = dev.build_module::<((Linear<784, 16>, ReLU, Linear<16, 2>), Linear<2, 784>), f32>();
/// let train = embedded(DatasetKind::Mnist).train.head(1_200); // two batches
/// let codes = encode_all(&model, &dev, &train);
/// assert_eq!(codes.len(), 1_200 * 2);
/// let last = dev.tensor_from_vec(train.image(1_199).to_vec(), (1, Const::<PIXELS>));
/// let alone = model.encode(last);
/// assert!((codes[2 * 1_199] - alone[0]).abs() < 1e-5 && (codes[2 * 1_199 + 1] - alone[1]).abs() < 1e-5);
/// ```
pub fn encode_all<M: Autoencoder<D>, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &Dataset,
) -> Vec<f32> {
    crate::batch::batches(dev, data, 1000, None)
        .flat_map(|b| model.encode(b.x))
        .collect()
}
