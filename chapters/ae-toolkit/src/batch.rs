//! Shuffled mini-batches of images as dfdx tensors whose feature width is a compile-time constant.

use dfdx::prelude::*;
use rand::{seq::SliceRandom, SeedableRng};
// A generator whose stream is promised stable across versions: the shuffling order is part of a
// run's reproducibility (and tests pin it).
use rand_chacha::ChaCha12Rng;

use crate::data::{Dataset, PIXELS};

/// A batch of images: `(batch, 784)`, the batch size known at run time, the width at compile time.
///
/// ```
/// use ae_toolkit::{batch::Images, data::PIXELS};
/// use dfdx::prelude::*;
/// let dev = Cpu::default();
/// let x: Images<Cpu> = dev.zeros_like(&(3, Const::<PIXELS>));
/// assert_eq!(x.shape().concrete(), [3, 784]);
/// ```
pub type Images<D, T = NoneTape> = Tensor<(usize, Const<PIXELS>), f32, D, T>;

/// One mini-batch: the images as a tensor, with their labels and their positions in the data set
/// (so an objective can look up per-image data such as a fixed corruption).
///
/// ```
/// use ae_toolkit::{batch::Batch, data::PIXELS};
/// use dfdx::prelude::*;
/// let dev = Cpu::default();
/// let b = Batch { x: dev.ones_like(&(2, Const::<PIXELS>)), labels: vec![3, 7], indices: vec![0, 1] };
/// assert_eq!(b.x.shape().0, b.labels.len());
/// assert_eq!(b.x.as_vec().iter().sum::<f32>(), 2.0 * 784.0);
/// ```
#[derive(Clone, Debug)]
pub struct Batch<D: Device<f32>> {
    /// `(len, 784)` pixels.
    pub x: Images<D>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Where each image sits in the data set the batch was drawn from.
    pub indices: Vec<usize>,
}

impl<D: Device<f32>> Batch<D> {
    /// Number of images in the batch.
    ///
    /// ```
    /// use ae_toolkit::{batch::batches, data::{embedded, DatasetKind}};
    /// use dfdx::prelude::*;
    /// let dev = Cpu::default();
    /// let test = embedded(DatasetKind::Mnist).test.head(250);
    /// let first = batches(&dev, &test, 100, None).next().unwrap();
    /// assert_eq!(first.len(), 100);
    /// assert_eq!(first.labels, test.labels[..100]);
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True for an empty batch (never produced by [`batches`]).
    ///
    /// ```
    /// use ae_toolkit::{batch::{batches, Batch}, data::{embedded, DatasetKind, PIXELS}};
    /// use dfdx::prelude::*;
    /// let dev = Cpu::default();
    /// let empty = Batch { x: dev.zeros_like(&(0, Const::<PIXELS>)), labels: vec![], indices: vec![] };
    /// assert!(empty.is_empty());
    /// let test = embedded(DatasetKind::Mnist).test;
    /// assert!(batches(&dev, &test, 128, None).all(|b| !b.is_empty()));
    /// // An empty data set yields no batches at all, rather than one empty batch.
    /// assert_eq!(batches(&dev, &test.head(0), 128, None).count(), 0);
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The visiting order for one epoch: a permutation of `0..n` that depends only on
/// `(seed, epoch)`, so a resumed run sees the same order as an uninterrupted one.
///
/// ```
/// use ae_toolkit::batch::epoch_order;
/// let a = epoch_order(10, 7, 1);
/// let mut sorted = a.clone();
/// sorted.sort();
/// assert_eq!(sorted, (0..10).collect::<Vec<_>>());
/// assert_eq!(a, epoch_order(10, 7, 1));
/// assert_ne!(a, epoch_order(10, 7, 2));
/// ```
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mix = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    order.shuffle(&mut ChaCha12Rng::seed_from_u64(mix));
    order
}

/// Mini-batches of `data` in the given order (`None`: in file order), `batch_size` images each.
/// The last batch holds the remainder (`len % batch_size` images) — it is kept, not dropped,
/// so every image is seen once per epoch.
///
/// ```
/// use ae_toolkit::{batch::batches, data::{embedded, DatasetKind}};
/// use dfdx::prelude::*;
/// let dev = Cpu::default();
/// let test = embedded(DatasetKind::Mnist).test; // 500 images
/// let sizes: Vec<usize> = batches(&dev, &test, 128, None).map(|b| b.len()).collect();
/// assert_eq!(sizes, vec![128, 128, 128, 116]);
/// ```
pub fn batches<'a, D: Device<f32>>(
    dev: &'a D,
    data: &'a Dataset,
    batch_size: usize,
    order: Option<Vec<usize>>,
) -> impl Iterator<Item = Batch<D>> + 'a {
    assert!(batch_size > 0, "batch size must be positive");
    let order = order.unwrap_or_else(|| (0..data.len()).collect());
    let chunks: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    chunks.into_iter().map(move |indices| Batch {
        x: dev.tensor_from_vec(data.gather(&indices), (indices.len(), Const::<PIXELS>)),
        labels: indices.iter().map(|&i| data.labels[i]).collect(),
        indices,
    })
}

/// Number of batches [`batches`] yields for `n` images.
///
/// ```
/// assert_eq!(ae_toolkit::batch::batch_count(500, 128), 4);
/// ```
pub fn batch_count(n: usize, batch_size: usize) -> usize {
    n.div_ceil(batch_size)
}
