//! Convolution, transposed convolution, max-pooling and nearest-neighbour upsampling layers, on
//! stable Rust.
//!
//! dfdx 0.13's own `Conv2D`, `ConvTrans2D`, `MaxPool2D` and `Upscale2DBy` need its `nightly`
//! feature: their output sizes are const expressions of the input size (`generic_const_exprs`).
//! The tensor operations underneath them only need that for compile-time image sizes; the
//! project's copy of dfdx (`vendor/dfdx`, see `vendor/README.md`) compiles them on stable for
//! run-time sizes. So here channels, kernel size, stride and padding are compile-time constants —
//! the model's type still reads as its architecture — while an image's height and width are
//! run-time values: a batch of images is a `Tensor<(usize, Const<C>, usize, usize), …>`.
//!
//! The layers are used like dfdx's own: in tuples, built with `build_module`, saved and loaded
//! with safetensors, trained with Adam on a tape. `Unflatten2D` and `Flatten2D` connect them to
//! the toolkit's batches of flat images `(usize, Const<784>)` and to its losses.
//!
//! ```
//! use ae_toolkit::conv::builder::{Conv2D, Flatten2D, MaxPool2D, Unflatten2D, Upsample2D};
//! use dfdx::prelude::*;
//! // 28×28×1 → 3×3 convolution (padding 1) → 28×28×4 → 2×2 max-pool → 14×14×4 → upsampled back
//! // to 28×28×4 → 3×3 convolution → 28×28×1, flattened to 784 logits.
//! type Net = (
//!     Unflatten2D<1, 28, 28>,
//!     Conv2D<1, 4, 3, 1, 1>,
//!     ReLU,
//!     MaxPool2D<2, 2>,
//!     (Upsample2D<2>, Conv2D<4, 1, 3, 1, 1>, Flatten2D<784>),
//! );
//! let dev = Cpu::seed_from_u64(0);
//! let net = dev.build_module::<Net, f32>();
//! let x: Tensor<(usize, Const<784>), f32, _> = dev.sample_uniform_like(&(5, Const));
//! let y = net.forward(x);
//! assert_eq!(y.shape().0, 5);
//! ```

use dfdx::nn::{BuildModule, BuildOnDevice, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::*;
use dfdx::tensor_ops::{
    GenericUpscale2D, NearestNeighbor, Pool2DKind, TryConv2D, TryConvTrans2D, TryPool2D,
};
use num_traits::Float;
use rand_distr::uniform::SampleUniform;
use rand_distr::Uniform;

/// Height (or width) of a convolution's output: `(n + 2p − k) / s + 1`, or `None` when the
/// kernel does not fit the padded input or the stride is 0.
///
/// ```
/// use ae_toolkit::conv::conv_output_size;
/// assert_eq!(conv_output_size(28, 3, 1, 1), Some(28)); // "same" padding
/// assert_eq!(conv_output_size(28, 3, 2, 1), Some(14));
/// assert_eq!(conv_output_size(2, 5, 1, 1), None); // 5 > 2 + 2
/// ```
pub const fn conv_output_size(
    n: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<usize> {
    if stride == 0 || kernel == 0 || kernel > n + 2 * padding {
        return None;
    }
    Some((n + 2 * padding - kernel) / stride + 1)
}

/// Height (or width) of a transposed convolution's output: `(n − 1)·s + k − 2p`, or `None` when
/// that is not positive (or `n`, `s` or `k` is 0).
///
/// ```
/// use ae_toolkit::conv::conv_trans_output_size;
/// assert_eq!(conv_trans_output_size(7, 4, 2, 1), Some(14));
/// assert_eq!(conv_trans_output_size(7, 3, 2, 1), Some(13)); // no output padding in dfdx 0.13
/// ```
pub const fn conv_trans_output_size(
    n: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<usize> {
    if n == 0 || stride == 0 || kernel == 0 || (n - 1) * stride + kernel <= 2 * padding {
        return None;
    }
    Some((n - 1) * stride + kernel - 2 * padding)
}

/// What the model types are written with: the zero-sized descriptions `build_module` turns into
/// layers with weights on a device (like `dfdx::nn::builders`).
pub mod builder {
    pub use super::{Crop2D, Flatten2D, MaxPool2D, Unflatten2D, Upsample2D};

    /// A 2-D convolution with a bias: `IN` → `OUT` channels, `K`×`K` kernel, stride `S`, zero
    /// padding `P` on every side.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Conv2D<
        const IN: usize,
        const OUT: usize,
        const K: usize,
        const S: usize = 1,
        const P: usize = 0,
    >;

    /// A 2-D transposed convolution with a bias (the adjoint of [`Conv2D`]'s input map): `IN` →
    /// `OUT` channels, `K`×`K` kernel, stride `S`, padding `P`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct ConvTrans2D<
        const IN: usize,
        const OUT: usize,
        const K: usize,
        const S: usize = 1,
        const P: usize = 0,
    >;
}

macro_rules! builds {
    ($builder:ident => $module:ident) => {
        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                E: Dtype,
                D: Device<E>,
            > BuildOnDevice<D, E> for builder::$builder<I, O, K, S, P>
        where
            $module<I, O, K, S, P, E, D>: BuildModule<D, E>,
        {
            type Built = $module<I, O, K, S, P, E, D>;
            fn try_build_on_device(device: &D) -> Result<Self::Built, D::Err> {
                Self::Built::try_build(device)
            }
        }
    };
}
builds!(Conv2D => Conv2D);
builds!(ConvTrans2D => ConvTrans2D);

/// A convolution layer on a device (built from [`builder::Conv2D`]).
///
/// Weights are stored `[OUT, IN, K, K]` as in PyTorch, and start uniform in `±1/√(IN·K·K)`
/// like PyTorch's default (dfdx's `Linear` does the same with `IN`).
#[derive(Debug, Clone)]
pub struct Conv2D<
    const IN: usize,
    const OUT: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// `[OUT, IN, K, K]`.
    pub weight: Tensor<Rank4<OUT, IN, K, K>, E, D>,
    /// One per output channel.
    pub bias: Tensor<Rank1<OUT>, E, D>,
}

/// A transposed-convolution layer on a device (built from [`builder::ConvTrans2D`]).
///
/// Weights are stored `[IN, OUT, K, K]` as in PyTorch's `ConvTranspose2d`, uniform in
/// `±1/√(OUT·K·K)` (PyTorch's fan-in of this layout).
#[derive(Debug, Clone)]
pub struct ConvTrans2D<
    const IN: usize,
    const OUT: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// `[IN, OUT, K, K]`.
    pub weight: Tensor<Rank4<IN, OUT, K, K>, E, D>,
    /// One per output channel.
    pub bias: Tensor<Rank1<OUT>, E, D>,
}

macro_rules! weights_and_bias {
    ($module:ident, $fan_in:ident) => {
        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                E: Dtype + Float + SampleUniform,
                D: Device<E>,
            > TensorCollection<E, D> for $module<I, O, K, S, P, E, D>
        {
            type To<E2: Dtype, D2: Device<E2>> = $module<I, O, K, S, P, E2, D2>;

            fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
                visitor: &mut V,
            ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(
                    (
                        Self::tensor(
                            "weight",
                            |s| &s.weight,
                            |s| &mut s.weight,
                            TensorOptions::reset_with(|t| {
                                let b = E::ONE / E::from_usize($fan_in * K * K).unwrap().sqrt();
                                t.try_fill_with_distr(Uniform::new(-b, b))
                            }),
                        ),
                        Self::tensor(
                            "bias",
                            |s| &s.bias,
                            |s| &mut s.bias,
                            TensorOptions::reset_with(|t| {
                                let b = E::ONE / E::from_usize($fan_in * K * K).unwrap().sqrt();
                                t.try_fill_with_distr(Uniform::new(-b, b))
                            }),
                        ),
                    ),
                    |(weight, bias)| $module { weight, bias },
                )
            }
        }

        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                E: Dtype,
                D: Storage<E>,
            > NonMutableModule for $module<I, O, K, S, P, E, D>
        {
        }
    };
}
weights_and_bias!(Conv2D, I);
weights_and_bias!(ConvTrans2D, O);

/// A batch of `C`-channel images whose height and width are known at run time.
pub type Images<const C: usize, E, D, T = NoneTape> =
    Tensor<(usize, Const<C>, usize, usize), E, D, T>;

/// Adds a per-channel bias to a batch of images.
fn add_channel_bias<const C: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Images<C, E, D, T>,
    bias: &Tensor<Rank1<C>, E, D>,
) -> Result<Images<C, E, D, T>, D::Err> {
    let shape = *x.shape();
    let bias = bias
        .retaped::<T>()
        .try_broadcast_like::<_, Axes3<0, 2, 3>>(&shape)?;
    x.try_add(bias)
}

/// Panics with a message saying which layer got which input, like dfdx's own shape checks
/// (a `Module`'s error type is the device's, so a shape mistake cannot be returned as one).
fn fits(layer: &str, out: Option<usize>, n: usize, k: usize, s: usize, p: usize) -> usize {
    match out {
        Some(m) => m,
        None => panic!(
            "{layer}: a {k}×{k} kernel with stride {s} and padding {p} does not fit an input of \
             size {n}; use a larger image, more padding or a smaller kernel"
        ),
    }
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, E, D, T>
    Module<Images<I, E, D, T>> for Conv2D<I, O, K, S, P, E, D>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    (
        Images<I, E, D, T>,
        Tensor<(Const<O>, usize, Const<K>, Const<K>), E, D>,
    ): TryConv2D<
        Const<S>,
        Const<P>,
        Const<1>,
        usize,
        Convolved = Images<O, E, D, T>,
        Error = D::Err,
    >,
{
    type Output = Images<O, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Images<I, E, D, T>) -> Result<Self::Output, D::Err> {
        let (_, _, h, w) = *x.shape();
        fits("Conv2D", conv_output_size(h, K, S, P), h, K, S, P);
        fits("Conv2D", conv_output_size(w, K, S, P), w, K, S, P);
        // dfdx types the filter's input-channel dimension as `IN / groups`; with `Const` channels
        // that division is a const expression (nightly), so the weight is viewed with a run-time
        // input-channel count and groups = 1usize. The view shares the weight's data and id
        // (contiguous reshape), so its gradient lands on the weight.
        let weight = self
            .weight
            .clone()
            .try_reshape_like(&(Const::<O>, I, Const::<K>, Const::<K>))?;
        let y = (x, weight).try_conv2d(Const::<S>, Const::<P>, Const::<1>, 1usize)?;
        add_channel_bias(y, &self.bias)
    }
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, E, D, T>
    Module<Images<I, E, D, T>> for ConvTrans2D<I, O, K, S, P, E, D>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    (Images<I, E, D, T>, Tensor<Rank4<I, O, K, K>, E, D>): TryConvTrans2D<
        Const<S>,
        Const<P>,
        Const<1>,
        usize,
        Convolved = Tensor<(usize, usize, usize, usize), E, D, T>,
        Error = D::Err,
    >,
{
    type Output = Images<O, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Images<I, E, D, T>) -> Result<Self::Output, D::Err> {
        let (_, _, h, w) = *x.shape();
        fits(
            "ConvTrans2D",
            conv_trans_output_size(h, K, S, P),
            h,
            K,
            S,
            P,
        );
        fits(
            "ConvTrans2D",
            conv_trans_output_size(w, K, S, P),
            w,
            K,
            S,
            P,
        );
        // Output channels are `OUT · groups`, a run-time product with groups = 1usize; the
        // result (freshly allocated, contiguous) is viewed with `Const<OUT>` channels again.
        let y =
            (x, self.weight.clone()).try_convtrans2d(Const::<S>, Const::<P>, Const::<1>, 1usize)?;
        let (b, _, oh, ow) = *y.shape();
        let y = y.try_reshape_like(&(b, Const::<O>, oh, ow))?;
        add_channel_bias(y, &self.bias)
    }
}

/// Max-pooling over `K`×`K` windows with stride `S` and padding `P` (padded cells never win).
/// No weights; its gradient goes to the input that won each window.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxPool2D<const K: usize, const S: usize, const P: usize = 0>;

impl<const K: usize, const S: usize, const P: usize> ZeroSizedModule for MaxPool2D<K, S, P> {}
impl<const K: usize, const S: usize, const P: usize> NonMutableModule for MaxPool2D<K, S, P> {}

impl<const C: usize, const K: usize, const S: usize, const P: usize, E, D, T>
    Module<Images<C, E, D, T>> for MaxPool2D<K, S, P>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    Images<C, E, D, T>: TryPool2D<
        Const<K>,
        Const<S>,
        Const<P>,
        Const<1>,
        Pooled = Images<C, E, D, T>,
        Error = D::Err,
    >,
{
    type Output = Images<C, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Images<C, E, D, T>) -> Result<Self::Output, D::Err> {
        let (_, _, h, w) = *x.shape();
        fits("MaxPool2D", conv_output_size(h, K, S, P), h, K, S, P);
        fits("MaxPool2D", conv_output_size(w, K, S, P), w, K, S, P);
        x.try_pool2d(
            Pool2DKind::Max,
            Const::<K>,
            Const::<S>,
            Const::<P>,
            Const::<1>,
        )
    }
}

/// Nearest-neighbour upsampling by an integer factor `F` (Keras' `UpSampling2D`): every pixel
/// becomes an `F`×`F` block. No weights; its gradient sums over each block.
#[derive(Debug, Clone, Copy, Default)]
pub struct Upsample2D<const F: usize>;

impl<const F: usize> ZeroSizedModule for Upsample2D<F> {}
impl<const F: usize> NonMutableModule for Upsample2D<F> {}

impl<const C: usize, const F: usize, E, D, T> Module<Images<C, E, D, T>> for Upsample2D<F>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    Images<C, E, D, T>: GenericUpscale2D<NearestNeighbor, Output<usize, usize> = Images<C, E, D, T>>
        + HasErr<Err = D::Err>,
{
    type Output = Images<C, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Images<C, E, D, T>) -> Result<Self::Output, D::Err> {
        let (_, _, h, w) = *x.shape();
        x.try_upscale2d_like(NearestNeighbor, h * F, w * F)
    }
}

/// Removes `LEAD` rows and columns at the top and left of every image and `TRAIL` at the bottom
/// and right: what the padding of a strided transposed convolution in PyTorch and TensorFlow
/// amounts to. A transposed convolution with stride 2 and a 3×3 kernel maps `n` pixels to
/// `2n + 1` (padding 0); PyTorch's `padding=1, output_padding=1` then drops the first row and
/// column (`Crop2D<1, 0>`), TensorFlow's `"same"` the last (`Crop2D<0, 1>`); both give `2n`.
/// No weights; the gradient of a cropped pixel is zero.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crop2D<const LEAD: usize, const TRAIL: usize>;

impl<const LEAD: usize, const TRAIL: usize> ZeroSizedModule for Crop2D<LEAD, TRAIL> {}
impl<const LEAD: usize, const TRAIL: usize> NonMutableModule for Crop2D<LEAD, TRAIL> {}

impl<const C: usize, const LEAD: usize, const TRAIL: usize, E, D, T> Module<Images<C, E, D, T>>
    for Crop2D<LEAD, TRAIL>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    type Output = Images<C, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Images<C, E, D, T>) -> Result<Self::Output, D::Err> {
        let (_, _, h, w) = *x.shape();
        assert!(
            h > LEAD + TRAIL && w > LEAD + TRAIL,
            "Crop2D<{LEAD}, {TRAIL}> cannot crop {h}×{w} images"
        );
        x.try_slice((.., .., LEAD..h - TRAIL, LEAD..w - TRAIL))
    }
}

/// Views each flat image of a batch `(usize, Const<N>)` as `C` channels of `H`×`W` pixels
/// (`N` must be `C·H·W`, checked when the layer runs). No copy, no weights.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unflatten2D<const C: usize, const H: usize, const W: usize>;

impl<const C: usize, const H: usize, const W: usize> ZeroSizedModule for Unflatten2D<C, H, W> {}
impl<const C: usize, const H: usize, const W: usize> NonMutableModule for Unflatten2D<C, H, W> {}

impl<const N: usize, const C: usize, const H: usize, const W: usize, E, D, T>
    Module<Tensor<(usize, Const<N>), E, D, T>> for Unflatten2D<C, H, W>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    type Output = Images<C, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(usize, Const<N>), E, D, T>) -> Result<Self::Output, D::Err> {
        assert_eq!(
            N,
            C * H * W,
            "Unflatten2D<{C}, {H}, {W}> needs images of {C}·{H}·{W} = {} values, got {N}",
            C * H * W
        );
        let b = x.shape().0;
        x.try_reshape_like(&(b, Const::<C>, H, W))
    }
}

/// Flattens each image of a batch of `C`-channel images into `N = C·H·W` values (checked when
/// the layer runs), the shape the toolkit's losses take. No copy, no weights.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten2D<const N: usize>;

impl<const N: usize> ZeroSizedModule for Flatten2D<N> {}
impl<const N: usize> NonMutableModule for Flatten2D<N> {}

impl<const C: usize, const N: usize, E, D, T> Module<Images<C, E, D, T>> for Flatten2D<N>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    type Output = Tensor<(usize, Const<N>), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Images<C, E, D, T>) -> Result<Self::Output, D::Err> {
        let (b, _, h, w) = *x.shape();
        assert_eq!(
            C * h * w,
            N,
            "Flatten2D<{N}> got {C}×{h}×{w} images ({} values each)",
            C * h * w
        );
        // A strided view (none of these layers makes one) would be copied by dfdx's reshape.
        x.try_reshape_like(&(b, Const::<N>))
    }
}
