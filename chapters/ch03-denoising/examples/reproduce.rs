//! Reproduces Chapter 3: trains denoising autoencoders on Fashion-MNIST and MNIST (scaled to
//! [−1, 1]) with Gaussian and with masking noise, measures PSNR against noise level next to two
//! classical filters, and writes every number and figure the chapter shows into
//! `book/generated/ch03/`, with the MNIST Gaussian model's weights (f16 safetensors) and golden
//! outputs for the page's drawing widget.
//!
//! Data: the full sets from the data directory if they are there (`cargo xtask fetch-data`),
//! otherwise the 2,000/500-image subsets compiled into `ae-toolkit` (announced on stderr).
//!
//! ```text
//! cargo run --release -p ch03-denoising --example reproduce -- --dataset all
//! cargo run --release -p ch03-denoising --example reproduce -- --help
//! ```

use ae_toolkit::cli::RunArgs;
use ae_toolkit::data::{DataSplits, DatasetKind, PIXELS};
use ae_toolkit::device::OnDevice;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::export::{max_abs_diff, round_to_f16, weights_table, Dtype, SafeTensors};
use ae_toolkit::plot::{image_rows, line_chart, Series};
use ae_toolkit::results::Results;
use ae_toolkit::train::History;
use ch03_denoising::{
    denoise, mean_psnr, psnr_table, train, training_config, Noise, PsnrTestImages, EPOCHS,
    MASKED_FRACTION, PSNR_SIGMAS,
};
use clap::Parser;

const CHAPTER: &str = "ch03";
const PACKAGE: &str = "ch03-denoising";
/// Noisy test images on which the f16 rounding of the exported weights is measured.
const F16_CHECK_IMAGES: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
/// What to run: one data set or both (the `--dataset` flag).
enum Experiment {
    FashionMnist,
    Mnist,
    All,
}

/// Reproduce Chapter 3's results and figures.
#[derive(Parser, Debug, Clone)]
#[command(about, long_about = None)]
struct Args {
    /// Which data set(s)
    #[arg(long, value_enum, default_value_t = Experiment::FashionMnist)]
    dataset: Experiment,
    /// σ of the Gaussian noise the model is trained with (pixels in [−1, 1])
    #[arg(long, default_value_t = ch03_denoising::SIGMA, value_parser = ae_toolkit::cli::positive)]
    sigma: f32,
    /// Fraction of pixels masked for the masking-noise model
    #[arg(long, default_value_t = MASKED_FRACTION, value_parser = ae_toolkit::cli::fraction)]
    mask: f32,
    #[command(flatten)]
    run: RunArgs,
}

/// The flags that reproduce this data set's table, the non-default noise levels included.
fn flags(args: &Args, set: &str) -> Vec<String> {
    let mut flags = vec!["--dataset".to_string(), set.to_string()];
    if args.sigma != ch03_denoising::SIGMA {
        flags.extend(["--sigma".to_string(), args.sigma.to_string()]);
    }
    if args.mask != MASKED_FRACTION {
        flags.extend(["--mask".to_string(), args.mask.to_string()]);
    }
    flags
}

fn main() {
    let args = Args::parse();
    let datasets: &[DatasetKind] = match args.dataset {
        Experiment::FashionMnist => &[DatasetKind::FashionMnist],
        Experiment::Mnist => &[DatasetKind::Mnist],
        Experiment::All => &[DatasetKind::FashionMnist, DatasetKind::Mnist],
    };
    ae_toolkit::cli::reproduce(&args.run, datasets, |raw| {
        // The tutorial's normalisation: pixels from [0, 1] to [−1, 1].
        one_dataset(&args, &raw.to_symmetric_range())
    });
}

/// What a trained model leaves, on the host: its history and its outputs for `inputs`.
struct Outcome {
    history: History,
    outputs: Vec<Vec<f32>>,
}

/// Trains one model on a freshly seeded device and denoises each of `inputs` with it.
struct TrainingRun<'a> {
    args: &'a Args,
    data: &'a DataSplits,
    noise: Noise,
    inputs: Vec<Vec<f32>>,
}

impl OnDevice for TrainingRun<'_> {
    type Output = Outcome;
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<Outcome> {
        let cfg = training_config(self.args.run.epochs_or(EPOCHS), self.args.run.seed);
        let name = format!("{}-{}", self.data.kind.dir_name(), noise_id(self.noise));
        let description = format!("{} on {}", self.noise, self.data.title());
        let run = self.args.run.run_options(CHAPTER, &name, &description);
        eprintln!("training {name} ({})", self.noise);
        let (mut model, history) = train(&dev, self.data, self.noise, &cfg, &run)?;
        let outputs: Vec<Vec<f32>> = self
            .inputs
            .iter()
            .map(|x| denoise(&model, &dev, x))
            .collect();
        if self.data.kind == DatasetKind::Mnist && matches!(self.noise, Noise::Gaussian { .. }) {
            // The last input holds the scored test images at the training σ.
            let noisy = self.inputs.last().expect("the Gaussian run has inputs");
            let denoised = outputs.last().expect("one output per input");
            export_mnist_gaussian(self.args, &dev, &mut model, noisy, denoised)?;
        }
        Ok(Outcome { history, outputs })
    }
}

/// Writes the weights Chapter 3's drawing widget runs (`mnist-gaussian.safetensors`, half
/// precision), golden inputs and outputs of the Rust model for the JavaScript tests
/// (`mnist-gaussian-golden.safetensors`) and `mnist-gaussian-weights.md` (size and the error of
/// f16). `noisy` are test images with the training noise, `denoised` the model's outputs for
/// them. Rounds `model`'s weights to f16 on the way.
fn export_mnist_gaussian<D: Device<f32>>(
    args: &Args,
    dev: &D,
    model: &mut ch03_denoising::Model<D>,
    noisy: &[f32],
    denoised: &[f32],
) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let n = F16_CHECK_IMAGES.min(noisy.len() / PIXELS);
    let golden_in = &noisy[..4 * PIXELS];
    round_to_f16(model);
    let rounded = denoise(model, dev, &noisy[..n * PIXELS]);
    let err = max_abs_diff(&denoised[..n * PIXELS], &rounded);
    let command = args.run.reproduce_command(PACKAGE, &flags(args, "mnist"));

    let mut file = SafeTensors::default();
    file.metadata(
        "holds",
        format!(
            "Chapter 3's denoising autoencoder 784-512-256-128-256-512-784 trained on MNIST in \
             [-1, 1] with Gaussian noise sigma = {} (model.0.* encoder, model.1.* decoder; dfdx \
             layer names, Linear weights (out, in), linear output in [-1, 1])",
            args.sigma
        ),
    );
    file.metadata("command", command);
    file.add_module("model.", model, Dtype::F16);
    let bytes = file.write(&out.join("mnist-gaussian.safetensors"))?;

    let mut golden = SafeTensors::default();
    golden.metadata(
        "holds",
        "the first 4 noisy test images (x, [-1, 1]) and the Rust model's outputs for them, with \
         f32 weights (y.f32) and with the weights rounded to f16 as in \
         mnist-gaussian.safetensors (y.f16)",
    );
    golden.add("x", &[4, PIXELS], golden_in, Dtype::F32);
    golden.add("y.f32", &[4, PIXELS], &denoised[..4 * PIXELS], Dtype::F32);
    golden.add("y.f16", &[4, PIXELS], &rounded[..4 * PIXELS], Dtype::F32);
    golden.write(&out.join("mnist-gaussian-golden.safetensors"))?;
    println!(
        "mnist-gaussian.safetensors: {bytes} bytes; f16 rounding changes outputs by at most {err:.5}"
    );
    let table = weights_table(
        "ch03/mnist-gaussian.safetensors",
        &format!(
            "this chapter's MNIST model, Gaussian noise σ = {}, 784-512-256-128-256-512-784 · \
             本章在 MNIST 上以 σ = {} 的高斯噪声训练的模型",
            args.sigma, args.sigma
        ),
        bytes,
        err,
        &format!("outputs in [−1, 1], first {n} noisy test images"),
    );
    ae_toolkit::atomic::write(&out.join("mnist-gaussian-weights.md"), table.as_bytes())
}

fn noise_id(noise: Noise) -> &'static str {
    match noise {
        Noise::None => "clean",
        Noise::Gaussian { .. } => "gaussian",
        Noise::Masking { .. } => "masking",
    }
}

fn one_dataset(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let out_dir = args.run.out_dir(CHAPTER);
    let set = data.kind.dir_name();
    let images = PsnrTestImages::draw(&data.test, args.sigma, args.mask, args.run.seed);
    let clean = &images.clean.images;
    let (gaussian, masking) = (images.training_noise, images.masking);

    let g = args.run.on_device(TrainingRun {
        args,
        data,
        noise: gaussian,
        inputs: images
            .gaussian_inputs()
            .into_iter()
            .map(<[f32]>::to_vec)
            .collect(),
    })?;
    let m = args.run.on_device(TrainingRun {
        args,
        data,
        noise: masking,
        inputs: vec![images.masked.clone()],
    })?;

    // PSNR against σ, then the masking model against the same baselines at its own noise: noisy
    // input, the autoencoder, the two filters.
    let rows = images.score(&[g.outputs.as_slice()], &[m.outputs[0].as_slice()]);
    let mut results = Results::new(&format!("psnr-{set}"));
    let mut series: Vec<Series> = ["noisy input", "autoencoder", "median 3×3", "Gaussian 3×3"]
        .iter()
        .map(|n| Series {
            name: n.to_string(),
            points: Vec::new(),
        })
        .collect();
    for (row, &sigma) in rows.iter().zip(&PSNR_SIGMAS) {
        for (s, v) in series.iter_mut().zip(row.values()) {
            s.points.push((sigma as f64, v));
        }
    }
    for row in &rows {
        // By name, for the text's comparisons: `psnr_<set>_<method>_s0_1`, … (σ as in the table).
        record_psnr(&mut results, set, &row.key(), &row.values());
    }
    line_chart(
        &out_dir.join(format!("psnr-{set}.svg")),
        &format!(
            "{}: PSNR against noise level (model trained at σ = {})",
            data.kind, args.sigma
        ),
        "σ of the Gaussian noise (pixels in [−1, 1])",
        "PSNR (dB), higher is better",
        &series,
    )?;
    let mut table = psnr_table(&["autoencoder · 自编码器"], &rows);
    let (gh, mh) = (&g.history, &m.history);
    table.push_str(&format!(
        "\nPSNR in dB (bold: the best of the three denoisers), mean over the first {} test images of {}; models: 784-512-256-128-256-512-784, \
         MSE, Adam lr 0.001 betas (0.5, 0.999), batch 128, {} epochs, seed {}. Test MSE against the \
         clean images · 对干净图像的测试 MSE: Gaussian model {:.4} (untrained {:.4}), masking model \
         {:.4} (untrained {:.4}); training {}. `{}`\n",
        images.clean.len(),
        data.title(),
        gh.last().epoch,
        args.run.seed,
        gh.last().test.loss,
        gh.untrained_test_loss(),
        mh.last().test.loss,
        mh.untrained_test_loss(),
        args.run.timing(gh),
        args.run.reproduce_command(PACKAGE, &flags(args, set))
    ));
    ae_toolkit::atomic::write(&out_dir.join(format!("psnr-{set}.md")), table.as_bytes())?;
    results.write(&out_dir)?;

    // Rows of clean / noisy / denoised for each noise type.
    let n = 10;
    let sigma_index = PSNR_SIGMAS.len(); // the input at the training σ
    for (noise, noisy, denoised) in [
        (gaussian, &images.at_training_noise, &g.outputs[sigma_index]),
        (masking, &images.masked, &m.outputs[0]),
    ] {
        let take = |v: &Vec<f32>| -> Vec<Vec<f32>> {
            v.chunks(PIXELS).take(n).map(<[f32]>::to_vec).collect()
        };
        let (c, x, y) = (take(clean), take(noisy), take(denoised));
        let rows: Vec<Vec<&[f32]>> = [&c, &x, &y]
            .iter()
            .map(|r| r.iter().map(Vec::as_slice).collect())
            .collect();
        image_rows(
            &out_dir.join(format!("examples-{set}-{}.png", noise_id(noise))),
            &rows,
            (-1.0, 1.0),
        )?;
    }
    println!(
        "{}: test MSE {:.4} (Gaussian σ = {}), {:.4} (masking {}); PSNR at σ = {}: noisy {:.2} dB, autoencoder {:.2} dB",
        data.kind,
        gh.last().test.loss,
        args.sigma,
        mh.last().test.loss,
        args.mask,
        args.sigma,
        mean_psnr(&images.at_training_noise, clean),
        mean_psnr(&g.outputs[sigma_index], clean)
    );
    Ok(())
}

/// One row of the PSNR table by name: `psnr_<set>_{input,ae,median,gaussian}_<at>` in dB, with
/// the table's two decimals (`set` with `_` for `-`).
fn record_psnr(results: &mut Results, set: &str, at: &str, values: &[f64]) {
    let set = set.replace('-', "_");
    for (method, v) in ["input", "ae", "median", "gaussian"].iter().zip(values) {
        results.number(&format!("psnr_{set}_{method}_{at}"), *v, 2);
    }
}
