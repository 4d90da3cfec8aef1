//! What the chapters' models have in common: an encoder and a decoder, stored as the dfdx tuple
//! `(encoder, decoder)`, whose decoder ends in logits of a 784-pixel image.

use dfdx::prelude::*;

use crate::batch::{Batch, Images};
use crate::data::{DataSplits, Dataset};
use crate::losses::{scalar, Reconstruction};
use crate::train::{fit, Eval, History, RunOptions, TrainConfig};

/// Codes of a batch: `(batch, K)`.
pub type Codes<const K: usize, D, T = NoneTape> = Tensor<(usize, Const<K>), f32, D, T>;

/// A built `(encoder, decoder)` pair mapping images to `K`-dimensional codes and back to logits.
///
/// Implemented for every tuple of dfdx modules with those shapes, so a chapter only writes the
/// type alias: `type Basic = ((Linear<784, 400>, ReLU, Linear<400, 20>), (Linear<20, 400>, ReLU,
/// Linear<400, 784>));`.
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

/// Trains an autoencoder to reconstruct its (clean) input with the given loss; the test metric
/// is the same loss. This is Chapter 1's objective; later chapters pass their own closures to
/// [`fit`].
pub fn train_reconstruction<M: Autoencoder<D>, D: Device<f32>>(
    model: &mut M,
    dev: &D,
    data: &DataSplits,
    loss: Reconstruction,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<History> {
    fit(
        model,
        dev,
        data,
        cfg,
        run,
        |m, batch: Batch<D>, grads| {
            let logits = m.logits_traced(batch.x.clone().traced(grads));
            loss.loss(logits, batch.x)
        },
        |m, batch| {
            Eval::loss(scalar(&loss.loss(m.logits(batch.x.clone()), batch.x.clone())) as f64)
        },
    )
}

/// Reconstructions (in the data's range) of the first `n` images of `data`, row-major.
pub fn reconstruct<M: Autoencoder<D>, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &Dataset,
    n: usize,
    loss: Reconstruction,
) -> Vec<f32> {
    let head = data.head(n);
    let x = dev.tensor_from_vec(
        head.images,
        (head.labels.len(), Const::<{ crate::data::PIXELS }>),
    );
    loss.output(model.logits(x)).as_vec()
}

/// Codes of every image of `data`, row-major `(len, LATENT)`, computed in batches.
pub fn encode_all<M: Autoencoder<D>, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &Dataset,
) -> Vec<f32> {
    crate::batch::batches(dev, data, 1000, None)
        .flat_map(|b| model.encode(b.x))
        .collect()
}
