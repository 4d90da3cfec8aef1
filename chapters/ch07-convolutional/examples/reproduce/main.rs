//! Reproduces Chapter 7 and writes every number and figure it shows into `book/generated/ch07/`.
//!
//! ```text
//! cargo run --release -p ch07-convolutional --example reproduce -- --experiment conv
//! cargo run --release -p ch07-convolutional --example reproduce -- --experiment all
//! ```
//!
//! Data: full MNIST from the data directory (`cargo xtask fetch-data`), otherwise the embedded
//! 2,000/500-image subset (announced on stderr). Every run keeps a checkpoint after every epoch
//! in `target/runs/ch07/<run>`; `--resume` continues it exactly.

use ae_toolkit::cli::{RunArgs, Selection};
use ae_toolkit::data::{DataSplits, DatasetKind};
use ae_toolkit::train::TrainConfig;
use clap::Parser;

mod checkerboard;
mod conv;
mod denoising;
mod pytorch;
mod vae;

const CHAPTER: &str = "ch07";
const PACKAGE: &str = "ch07-convolutional";
/// The default of `--conv-epochs`: the Keras blog's.
const CONV_EPOCHS: u32 = 50;
/// The default of `--vae-epochs`: Chapter 5's and TensorFlow's tutorial's.
const VAE_EPOCHS: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Experiment {
    /// The Keras blog's convolutional autoencoder against Chapter 1's MLPs of the same code size
    /// and of the same parameter count
    Conv,
    /// Checkerboard artifacts: the decoder enlarging by upsampling then convolving, or by
    /// stride-2 transposed convolutions
    Checkerboard,
    /// The convolutional VAE in the shape of TensorFlow's CVAE tutorial against Chapter 5's MLP
    /// VAE: −ELBO with a 20-D latent space, samples, and the decoded 2-D manifold
    Vae,
    /// The convolutional denoising autoencoder against Chapter 3's MLP, both with Chapter 3's
    /// noise and objective: Chapter 3's PSNR table with a column for it
    Denoising,
    /// The PyTorch twins (perf/pytorch/train_step.py) of the convolutional autoencoder, VAE and
    /// denoiser, each trained with its Rust model's configuration, against the Rust models' test
    /// losses (needs `pip install torch==2.15.0`)
    Pytorch,
    /// Everything above
    All,
}

/// Reproduce Chapter 7's results and figures.
#[derive(Parser, Debug, Clone)]
#[command(about, long_about = None)]
struct Args {
    /// What to run
    #[arg(long, value_enum, default_value_t = Experiment::Conv)]
    experiment: Experiment,
    /// Epochs of the convolutional autoencoder and its MLPs (the Keras blog trains 50)
    #[arg(long, default_value_t = CONV_EPOCHS, value_parser = clap::value_parser!(u32).range(1..))]
    conv_epochs: u32,
    /// Epochs of the two decoders of the checkerboard comparison
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    checkerboard_epochs: u32,
    /// Epochs of the two VAEs, each with a 20-D and a 2-D latent space (Chapter 5 and
    /// TensorFlow's tutorial train 10)
    #[arg(long, default_value_t = VAE_EPOCHS, value_parser = clap::value_parser!(u32).range(1..))]
    vae_epochs: u32,
    /// Epochs of the denoising autoencoders (Chapter 3 trains 10)
    #[arg(long, default_value_t = ch03_denoising::EPOCHS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    denoising_epochs: u32,
    // The shared `--epochs` flag overrides every experiment's epoch count.
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let args = Args::parse();
    ae_toolkit::cli::reproduce(&args.run, &[DatasetKind::Mnist], |data| run(&args, &data));
}

fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    if args.experiment.includes(Experiment::Conv) {
        args.run.on_device(conv::Comparison { args, data })?;
    }
    if args.experiment.includes(Experiment::Checkerboard) {
        args.run
            .on_device(checkerboard::Checkerboard { args, data })?;
    }
    if args.experiment.includes(Experiment::Vae) {
        vae::run(&vae::Comparison { args, data })?;
    }
    if args.experiment.includes(Experiment::Denoising) {
        denoising::run(args, data)?;
    }
    // Last: its table reads the Rust models' test losses the experiments above write.
    if args.experiment.includes(Experiment::Pytorch) {
        match pytorch::run(args, data) {
            // Everything else is reproduced without PyTorch; only its own column needs it.
            Err(e) if args.experiment == Experiment::All && e.is::<pytorch::NoTorch>() => {
                eprintln!("skipping the PyTorch twins: {e}")
            }
            result => result?,
        }
    }
    Ok(())
}

/// The command that reproduces an experiment's results, for the tables.
fn command(args: &Args, flags: &[String]) -> String {
    format!("`{}`", args.run.reproduce_command(PACKAGE, flags))
}

/// Adam with Keras' default learning rate (10⁻³), batches of 128, the run's seed.
fn cfg(args: &Args, epochs: u32) -> TrainConfig {
    args.run.train_config(epochs as usize, 128)
}
