//! Chapter 1: the basic autoencoder.
//!
//! Three presets from popular tutorials, each a dfdx type alias whose shapes read as the
//! architecture, and Glorot-uniform initialisation next to dfdx's default. Everything else —
//! data, batches, losses, the training loop — comes from [`ae_toolkit`].
//!
//! Every decoder ends in a `Linear` layer producing logits; the sigmoid that turns them into
//! pixels lives inside the loss ([`ReconstructionLoss`]), where binary cross-entropy can be computed
//! stably.
//!
//! The presets are types; building one allocates and initialises its weights:
//!
//! ```
//! use ae_toolkit::data::{embedded, DatasetKind, PIXELS};
//! use ae_toolkit::dfdx::prelude::*;
//! use ae_toolkit::model::Autoencoder;
//! use ch01_autoencoder::{glorot_uniform, Basic, BasicDecoder, BasicEncoder, Deep, Shallow};
//! fn latent<M: Autoencoder<Cpu>>(_: &M) -> usize {
//!     M::LATENT
//! }
//! let dev = Cpu::seed_from_u64(0);
//! let mut basic = dev.build_module::<Basic, f32>();
//! assert_eq!(latent(&basic), 20);
//! assert_eq!(latent(&dev.build_module::<Deep, f32>()), 32);
//! assert_eq!(latent(&dev.build_module::<Shallow, f32>()), 32);
//!
//! // The halves work alone: the encoder maps images to codes, the decoder codes to logits.
//! let (encoder, decoder) = (dev.build_module::<BasicEncoder, f32>(), dev.build_module::<BasicDecoder, f32>());
//! let images = embedded(DatasetKind::Mnist).test.head(3).images;
//! let codes = encoder.forward(dev.tensor_from_vec(images, (3, Const::<PIXELS>)));
//! assert_eq!(codes.shape().concrete(), [3, 20]);
//! assert_eq!(decoder.forward(codes).shape().concrete(), [3, 784]);
//!
//! // Glorot-uniform initialisation: weights within ±√(6/(fan_in + fan_out)), biases zero.
//! glorot_uniform(&mut basic);
//! let a = (6.0f32 / (784.0 + 400.0)).sqrt();
//! assert!(basic.0 .0.weight.as_vec().iter().all(|w| w.abs() <= a));
//! assert!(basic.0 .0.bias.as_vec().iter().all(|&b| b == 0.0));
//! ```

use ae_toolkit::data::DataSplits;
use ae_toolkit::dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::{train_reconstruction, Autoencoder};
use ae_toolkit::train::{History, RunOptions, TrainConfig};

// ANCHOR: basic_model
/// `basic`: 784 → 400 → 20 → 400 → 784, ReLU hidden layers, a linear 20-dimensional code.
pub type BasicEncoder = (Linear<784, 400>, ReLU, Linear<400, 20>);
/// Decoder of `basic`; its output is logits (the sigmoid is taken in the loss).
pub type BasicDecoder = (Linear<20, 400>, ReLU, Linear<400, 784>);
/// The `basic` autoencoder: `(encoder, decoder)`.
pub type Basic = (BasicEncoder, BasicDecoder);
// ANCHOR_END: basic_model

// ANCHOR: deep_model
/// `deep`: 784 → 128 → 64 → 32, and back, ReLU between layers, a linear 32-dimensional code.
pub type DeepEncoder = (
    Linear<784, 128>,
    ReLU,
    Linear<128, 64>,
    ReLU,
    Linear<64, 32>,
);
/// Decoder of `deep` (logits out).
pub type DeepDecoder = (
    Linear<32, 64>,
    ReLU,
    Linear<64, 128>,
    ReLU,
    Linear<128, 784>,
);
/// The `deep` autoencoder.
pub type Deep = (DeepEncoder, DeepDecoder);
// ANCHOR_END: deep_model

// ANCHOR: shallow_model
/// `shallow` (the Keras blog's first model): 784 → 32 with ReLU, then 32 → 784.
pub type ShallowEncoder = (Linear<784, 32>, ReLU);
/// Decoder of `shallow` (logits out).
pub type ShallowDecoder = Linear<32, 784>;
/// The `shallow` autoencoder.
pub type Shallow = (ShallowEncoder, ShallowDecoder);
// ANCHOR_END: shallow_model

/// The chapter's presets.
///
/// ```
/// use ch01_autoencoder::PresetName;
/// use clap::ValueEnum;
/// // How `--preset shallow` is read:
/// assert_eq!(PresetName::from_str("shallow", false), Ok(PresetName::Shallow));
/// assert_eq!(PresetName::Shallow.preset().epochs, 50);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PresetName {
    /// 784-400-20, BCE summed per image, batch 128, 10 epochs.
    Basic,
    /// 784-128-64-32, MSE, batch 128, 10 epochs.
    Deep,
    /// 784-32 (Keras blog), BCE per pixel, batch 256, 50 epochs, Glorot initialisation.
    Shallow,
}

/// A preset's training recipe and the value a tutorial reports for it.
///
/// ```
/// use ae_toolkit::losses::ReconstructionLoss;
/// use ch01_autoencoder::{Init, PresetName};
/// let keras = PresetName::Shallow.preset();
/// assert_eq!((keras.widths, keras.loss, keras.init), ("784-32-784", ReconstructionLoss::BcePerPixel, Init::Glorot));
/// let (value, source) = keras.reported.unwrap();
/// assert!(value.starts_with("0.09") && source.contains("Keras"));
/// assert_eq!(PresetName::Deep.preset().reported, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    /// Which preset.
    pub name: PresetName,
    /// Short name used in file names and flags.
    pub id: &'static str,
    /// Layer widths, for tables.
    pub widths: &'static str,
    /// Reconstruction loss (also the test metric).
    pub loss: ReconstructionLoss,
    /// Epochs of the tutorial.
    pub epochs: usize,
    /// Mini-batch size of the tutorial.
    pub batch_size: usize,
    /// The initialisation of the tutorial's framework (PyTorch's default for `Linear` is dfdx's;
    /// Keras' is Glorot-uniform).
    pub init: Init,
    /// Test loss a tutorial reports after `epochs`, with where it comes from.
    pub reported: Option<(&'static str, &'static str)>,
}

impl PresetName {
    /// All presets.
    ///
    /// ```
    /// use ch01_autoencoder::PresetName;
    /// let ids: Vec<&str> = PresetName::ALL.iter().map(|p| p.preset().id).collect();
    /// assert_eq!(ids, ["basic", "deep", "shallow"]);
    /// assert!(PresetName::ALL.iter().all(|&p| p.preset().name == p));
    /// ```
    pub const ALL: [PresetName; 3] = [PresetName::Basic, PresetName::Deep, PresetName::Shallow];

    /// The recipe of this preset.
    ///
    /// ```
    /// use ch01_autoencoder::PresetName;
    /// let p = PresetName::Basic.preset();
    /// assert_eq!((p.epochs, p.batch_size, p.id), (10, 128, "basic"));
    /// ```
    pub fn preset(self) -> Preset {
        match self {
            PresetName::Basic => Preset {
                name: self,
                id: "basic",
                widths: "784-400-20-400-784",
                loss: ReconstructionLoss::BcePerImage,
                epochs: 10,
                batch_size: 128,
                init: Init::Default,
                reported: None,
            },
            PresetName::Deep => Preset {
                name: self,
                id: "deep",
                widths: "784-128-64-32-64-128-784",
                loss: ReconstructionLoss::SigmoidMse,
                epochs: 10,
                batch_size: 128,
                init: Init::Default,
                reported: None,
            },
            PresetName::Shallow => Preset {
                name: self,
                id: "shallow",
                widths: "784-32-784",
                loss: ReconstructionLoss::BcePerPixel,
                epochs: 50,
                batch_size: 256,
                init: Init::Glorot,
                // The same text as book/literature.toml's `chollet2016_dense_bce`.
                reported: Some(("0.09–0.10", "the Keras blog, MNIST validation set")),
            },
        }
    }
}

/// How the weights start.
///
/// ```
/// use ch01_autoencoder::{Init, PresetName};
/// assert_eq!(Init::default(), Init::Default);
/// // Only the Keras preset starts from Glorot, as Keras does.
/// let glorot: Vec<PresetName> = PresetName::ALL.into_iter().filter(|p| p.preset().init == Init::Glorot).collect();
/// assert_eq!(glorot, [PresetName::Shallow]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Init {
    /// dfdx's default for `Linear`: weights and biases uniform in ±1/√fan_in.
    #[default]
    Default,
    /// Glorot (Xavier) uniform weights in ±√(6/(fan_in + fan_out)), zero biases (Keras' default).
    Glorot,
}

// BEGIN SOLUTION glorot_uniform
// ANCHOR: glorot_uniform
/// Re-initialises every weight matrix of `model` Glorot-uniformly, `W ~ U(−a, a)` with
/// `a = √(6 / (fan_in + fan_out))`, and sets every bias to zero.
pub fn glorot_uniform<M: TensorCollection<f32, D>, D: Device<f32>>(model: &mut M) {
    struct Glorot;
    impl<D: Device<f32>> TensorVisitor<f32, D> for Glorot {
        type Viewer = ViewTensorMut;
        type Err = D::Err;
        type E2 = f32;
        type D2 = D;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, D>,
            t: &mut Tensor<S, f32, D>,
        ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
            let dims = t.shape().concrete();
            match S::NUM_DIMS {
                // A Linear<I, O> weight has shape (O, I): fan_out rows, fan_in columns.
                2 => {
                    let a = (6.0 / (dims[0] + dims[1]) as f32).sqrt();
                    t.try_fill_with_distr(rand_distr::Uniform::new_inclusive(-a, a))?;
                }
                1 => t.try_fill_with_zeros()?,
                _ => {}
            }
            Ok(None)
        }
    }
    M::iter_tensors(&mut RecursiveWalker {
        m: model,
        f: &mut Glorot,
    })
    .unwrap_or_else(|_| panic!("filling tensors cannot fail on an allocated model"));
}
// ANCHOR_END: glorot_uniform
// END SOLUTION

/// A trained model with its history.
///
/// ```
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind, PIXELS};
/// use ae_toolkit::dfdx::prelude::*;
/// use ae_toolkit::model::Autoencoder;
/// use ae_toolkit::train::RunOptions;
/// use ch01_autoencoder::{config, train, PresetName, Shallow};
/// let dev = Cpu::seed_from_u64(0);
/// let full = embedded(DatasetKind::Mnist);
/// let data = DataSplits { train: full.train.head(40), test: full.test.head(20), ..full };
/// let p = PresetName::Shallow.preset();
/// let trained = train::<Shallow, Cpu>(&dev, &p, p.init, &data, &config(&p, 0, Some(1)), &RunOptions::default())
///     .unwrap();
/// assert_eq!(trained.history.epochs.len(), 2);
/// let x = dev.tensor_from_vec(data.test.image(0).to_vec(), (1, Const::<PIXELS>));
/// assert_eq!(trained.model.encode(x).len(), 32);
/// ```
pub struct Trained<M> {
    /// The model after the last epoch.
    pub model: M,
    /// Losses per epoch (epoch 0: untrained).
    pub history: History,
}

/// Builds model `M` on `dev`, initialises it with `init`, and trains it on `data` with the
/// preset's loss and the configuration `cfg` (see [`config`]).
///
/// ```
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::dfdx::prelude::*;
/// use ae_toolkit::train::{RunOptions, TrainConfig};
/// use ch01_autoencoder::{config, train, Basic, PresetName};
/// let dev = Cpu::seed_from_u64(0);
/// let full = embedded(DatasetKind::Mnist);
/// let data = DataSplits { train: full.train.head(200), test: full.test.head(100), ..full };
/// let p = PresetName::Basic.preset();
/// // One epoch, in batches of 20 rather than 128 so that 200 images make 10 steps.
/// let cfg = TrainConfig { batch_size: 20, ..config(&p, 0, Some(1)) };
/// let h = train::<Basic, Cpu>(&dev, &p, p.init, &data, &cfg, &RunOptions::default()).unwrap().history;
/// // Untrained, σ(z) ≈ 0.5 everywhere: about 784·ln 2 ≈ 543 BCE per image.
/// assert!((h.untrained_test_loss() - 784.0 * 2f64.ln()).abs() < 20.0);
/// assert!(h.last().test.loss < h.untrained_test_loss());
/// ```
pub fn train<M, D>(
    dev: &D,
    preset: &Preset,
    init: Init,
    data: &DataSplits,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<Trained<M::Built>>
where
    D: Device<f32>,
    M: BuildOnDevice<D, f32>,
    M::Built: Autoencoder<D>,
{
    let mut model = M::build_on_device(dev);
    if init == Init::Glorot {
        glorot_uniform(&mut model);
    }
    let history = train_reconstruction(&mut model, dev, data, preset.loss, cfg, run)?;
    Ok(Trained { model, history })
}

/// The preset's training configuration with `seed` and, if given, another number of epochs.
///
/// ```
/// use ch01_autoencoder::{config, PresetName};
/// let cfg = config(&PresetName::Shallow.preset(), 7, None);
/// assert_eq!((cfg.epochs, cfg.batch_size, cfg.seed), (50, 256, 7));
/// ```
pub fn config(preset: &Preset, seed: u64, epochs: Option<usize>) -> TrainConfig {
    TrainConfig {
        seed,
        ..TrainConfig::adam(epochs.unwrap_or(preset.epochs), preset.batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `v` looks like draws from U(−a, a): every |x| ≤ a (up to `f32` rounding), mean
    /// 0 and variance a²/3 within four standard errors (sd of the mean a/√(3n); variance of the
    /// sample variance ≈ (4/45)a⁴/n).
    fn assert_uniform(v: &[f32], a: f64, what: &str) {
        assert!(
            v.iter().all(|&x| (x as f64).abs() <= a + 1e-7),
            "{what}: outside ±{a}"
        );
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(
            mean.abs() < 4.0 * a / (3.0 * n).sqrt(),
            "{what}: mean {mean}"
        );
        let want = a * a / 3.0;
        assert!(
            (var - want).abs() < 4.0 * (4.0 / 45.0f64).sqrt() * a * a / n.sqrt(),
            "{what}: variance {var} vs {want}"
        );
    }

    #[test]
    fn glorot_bound_and_moments() {
        // For U(−a, a): every |w| ≤ a, mean 0, variance a²/3 = 2/(fan_in + fan_out).
        let dev = Cpu::seed_from_u64(3);
        let mut m = dev.build_module::<Basic, f32>();
        glorot_uniform(&mut m);
        let a = (6.0f64 / (784.0 + 400.0)).sqrt();
        assert_uniform(&m.0 .0.weight.as_vec(), a, "first layer's weights"); // 400 × 784
        assert!(m.0 .0.bias.as_vec().iter().all(|&b| b == 0.0));
        // The decoder's last layer has its own bound: √(6/(400 + 784)) as well, by symmetry.
        let a_out = (6.0f64 / (400.0 + 784.0)).sqrt();
        assert_uniform(&m.1 .2.weight.as_vec(), a_out, "last layer's weights");
    }

    #[test]
    fn default_init_is_uniform_in_one_over_sqrt_fan_in() {
        let dev = Cpu::seed_from_u64(3);
        let m = dev.build_module::<Basic, f32>();
        // Mean 0 and variance b²/3 = 1/(3 fan_in), b = 1/√fan_in.
        let b = 1.0 / 784f64.sqrt();
        let w = m.0 .0.weight.as_vec();
        assert_uniform(&w, b, "first layer's weights");
        // The samples fill the interval (some come within 1 % of the bound), which is half as
        // wide as Glorot's √(6/(784 + 400)) ≈ 0.071 for the same layer.
        assert!(w.iter().any(|&v| v.abs() as f64 > 0.99 * b));
        // The biases come from the same interval, the layer's own ±1/√fan_in: ±1/√784 for the
        // first layer, ±1/√400 = ±0.05 for the last.
        let first = m.0 .0.bias.as_vec();
        assert_uniform(&first, b, "first layer's biases");
        assert!(first.iter().any(|&v| v.abs() as f64 > 0.9 * b));
        let b_last = 1.0 / 400f64.sqrt();
        let last = m.1 .2.bias.as_vec();
        assert_uniform(&last, b_last, "last layer's biases");
        assert!(last.iter().any(|&v| v.abs() as f64 > 0.99 * b_last));
    }

    /// Chapter 7 compares its convolutional model's size with `basic`'s "more than 600,000":
    /// 784·400 + 400 + 400·20 + 20 + 20·400 + 400 + 400·784 + 784 trainable parameters.
    #[test]
    fn basic_has_644_804_trainable_parameters() {
        let dev = Cpu::default();
        let m = dev.build_module::<Basic, f32>();
        let dense = |i: usize, o: usize| i * o + o;
        let want = dense(784, 400) + dense(400, 20) + dense(20, 400) + dense(400, 784);
        assert_eq!(want, 644_804);
        assert_eq!(m.num_trainable_params(), want);
    }

    /// `W x + b` for a dfdx `Linear` whose weight is stored `(out, in)`, row-major.
    fn affine(w: &[f32], b: &[f32], x: &[f64]) -> Vec<f64> {
        b.iter()
            .enumerate()
            .map(|(o, &bo)| {
                let row = &w[o * x.len()..(o + 1) * x.len()];
                bo as f64
                    + row
                        .iter()
                        .zip(x)
                        .map(|(&wi, xi)| wi as f64 * xi)
                        .sum::<f64>()
            })
            .collect()
    }

    fn relu(v: Vec<f64>) -> Vec<f64> {
        v.into_iter().map(|a| a.max(0.0)).collect()
    }

    /// The chapter's forward pass, z = W₂ ReLU(W₁x + b₁) + b₂ and
    /// x̂ = σ(W₄ ReLU(W₃z + b₃) + b₄), computed by hand in f64 from the model's own weights.
    #[test]
    fn basic_forward_pass_is_the_formula() {
        let dev = Cpu::seed_from_u64(5);
        let m = dev.build_module::<Basic, f32>();
        let data = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist).test;
        let image = data.image(0);
        let x: Vec<f64> = image.iter().map(|&p| p as f64).collect();
        let ((l1, _, l2), (l3, _, l4)) = (&m.0, &m.1);
        let z = affine(
            &l2.weight.as_vec(),
            &l2.bias.as_vec(),
            &relu(affine(&l1.weight.as_vec(), &l1.bias.as_vec(), &x)),
        );
        let logits = affine(
            &l4.weight.as_vec(),
            &l4.bias.as_vec(),
            &relu(affine(&l3.weight.as_vec(), &l3.bias.as_vec(), &z)),
        );
        let x_hat: Vec<f64> = logits.iter().map(|&a| 1.0 / (1.0 + (-a).exp())).collect();

        let input = dev.tensor_from_vec(image.to_vec(), (1, Const::<784>));
        let code = m.encode(input.clone());
        for (got, want) in code.iter().zip(&z) {
            assert!((*got as f64 - want).abs() < 1e-4, "code {got} vs {want}");
        }
        let out = ReconstructionLoss::BcePerImage
            .output(m.logits(input))
            .as_vec();
        for (got, want) in out.iter().zip(&x_hat) {
            assert!((*got as f64 - want).abs() < 1e-5, "pixel {got} vs {want}");
        }
    }

    #[test]
    fn shapes_read_as_the_architecture() {
        let dev = Cpu::default();
        let m = dev.build_module::<Basic, f32>();
        let x = dev.zeros_like(&(3, Const::<784>));
        assert_eq!(m.encode(x.clone()).len(), 3 * 20);
        assert_eq!(m.logits(x).shape().concrete(), [3, 784]);
        assert_eq!(
            <<Deep as BuildOnDevice<Cpu, f32>>::Built as Autoencoder<Cpu>>::LATENT,
            32
        );
        assert_eq!(
            <<Shallow as BuildOnDevice<Cpu, f32>>::Built as Autoencoder<Cpu>>::LATENT,
            32
        );
    }
}
