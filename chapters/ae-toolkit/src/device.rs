//! Choosing the compute device at run time while the code stays generic over `D: Device<f32>`.

use dfdx::prelude::*;
use dfdx::tensor_ops::{
    Conv2DKernel, ConvTrans2DKernel, NearestNeighbor, Pool2DKernel, Upscale2DKernel,
};

/// A device with everything the chapters train with: dfdx's [`Device`] plus the convolution,
/// transposed convolution, pooling and upsampling kernels of Chapter 7's layers, which dfdx's
/// `Device` does not include. The CPU and CUDA devices are both; work written for
/// `D: Device<f32>` runs on any `ImageDevice` unchanged.
pub trait ImageDevice:
    Device<f32>
    + Conv2DKernel<f32>
    + ConvTrans2DKernel<f32>
    + Pool2DKernel<f32>
    + Upscale2DKernel<f32, NearestNeighbor>
{
}

impl<D> ImageDevice for D where
    D: Device<f32>
        + Conv2DKernel<f32>
        + ConvTrans2DKernel<f32>
        + Pool2DKernel<f32>
        + Upscale2DKernel<f32, NearestNeighbor>
{
}

/// The device a run uses.
///
/// ```
/// use ae_toolkit::device::DeviceKind;
/// use clap::ValueEnum;
/// assert_eq!(DeviceKind::default(), DeviceKind::Cpu);
/// // The spelling of `--device`:
/// assert_eq!(DeviceKind::from_str("cuda", false), Ok(DeviceKind::Cuda));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceKind {
    /// The CPU (always available).
    #[default]
    Cpu,
    /// An NVIDIA GPU through dfdx's CUDA backend; needs the `cuda` cargo feature.
    Cuda,
}

/// Work to run on whichever device was chosen: implement it once, generically.
///
/// ```
/// use ae_toolkit::device::OnDevice;
/// use dfdx::prelude::*;
/// /// The mean of some numbers, computed on the device.
/// struct Mean(Vec<f32>);
/// impl OnDevice for Mean {
///     type Output = f32;
///     fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<f32> {
///         let n = self.0.len();
///         let t = dev.tensor_from_vec(self.0, (n,));
///         Ok(ae_toolkit::losses::scalar_value(&t.mean()))
///     }
/// }
/// assert_eq!(Mean(vec![1.0, 2.0, 6.0]).run(Cpu::default()).unwrap(), 3.0);
/// ```
pub trait OnDevice {
    /// What the work returns.
    type Output;
    /// Runs the work on `dev`. (An implementation may ask for less, `D: Device<f32>`, when it
    /// trains no convolutional layer.)
    fn run<D: ImageDevice>(self, dev: D) -> anyhow::Result<Self::Output>;
}

/// Builds the chosen device, seeded, and runs `work` on it.
///
/// ```
/// use ae_toolkit::device::{on_device, DeviceKind, OnDevice};
/// use dfdx::prelude::*;
/// struct SumOnes;
/// impl OnDevice for SumOnes {
///     type Output = f32;
///     fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<f32> {
///         Ok(ae_toolkit::losses::scalar_value(&dev.ones::<Rank1<3>>().sum()))
///     }
/// }
/// assert_eq!(on_device(DeviceKind::Cpu, 0, SumOnes).unwrap(), 3.0);
/// ```
pub fn on_device<W: OnDevice>(kind: DeviceKind, seed: u64, work: W) -> anyhow::Result<W::Output> {
    match kind {
        DeviceKind::Cpu => work.run(Cpu::seed_from_u64(seed)),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            let dev = Cuda::try_seed_from_u64(seed)
                .map_err(|e| anyhow::anyhow!("cannot open the CUDA device: {e:?}"))?;
            work.run(dev)
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => anyhow::bail!(
            "this binary was built without CUDA; rebuild with `--features cuda` (needs the CUDA \
             toolkit and a GPU), or use --device cpu"
        ),
    }
}
