//! Reproduces Chapter 5: trains the variational autoencoder on MNIST (20-D and 2-D latent
//! spaces, and a short β sweep), estimates log p(x) by importance sampling next to the ELBO, and
//! writes every number and figure into `book/generated/ch05/`. The 2-D experiment also trains a
//! plain autoencoder with a 2-D code (Chapter 1's recipe) and writes both 2-D decoders' weights
//! (f16 safetensors) and golden outputs for the page's latent-walk widget.
//!
//! Data: the full MNIST set from the data directory if it is there (`cargo xtask fetch-data`),
//! otherwise the 2,000/500-image subset compiled into `ae-toolkit` (announced on stderr).
//!
//! ```text
//! cargo run --release -p ch05-vae --example reproduce -- --experiment all
//! cargo run --release -p ch05-vae --example reproduce -- --help
//! ```

use ae_toolkit::cli::{RunArgs, Selection};
use ae_toolkit::data::{DataSplits, DatasetKind, PIXELS};
use ae_toolkit::device::OnDevice;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::export::{max_abs_diff, round_to_f16, weights_table, Dtype, SafeTensors};
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::train_reconstruction;
use ae_toolkit::plot::{image_rows, line_chart, scatter_by_class, Series};
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::History;
use ch05_vae::{decode, encode, importance_log_likelihood, manifold_codes, train, Model, LATENT};
use clap::Parser;

const CHAPTER: &str = "ch05";
const PACKAGE: &str = "ch05-vae";
/// β values of the sweep (β = 1 is the VAE).
const BETAS: [f32; 4] = [0.5, 1.0, 2.0, 4.0];
/// A widely used PyTorch example with this model reports about this test loss after 10 epochs.
const REPORTED: f64 = 105.0;
/// Test images whose 2-D codes the latent-walk widget draws.
const WIDGET_POINTS: usize = 3000;

/// Chapter 1's `basic` autoencoder with a 2-D code instead of 20: the plain model the
/// latent-walk widget interpolates with, next to the 2-D VAE.
type PlainAe2d = (
    (Linear<784, 400>, ReLU, Linear<400, 2>),
    (Linear<2, 400>, ReLU, Linear<400, 784>),
);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Experiment {
    /// 20-D latent space, β = 1: loss per epoch, samples, reconstructions, interpolation, log p(x)
    Main,
    /// 2-D latent space: the decoded manifold and the latent scatter; and, for the page's
    /// latent-walk widget, a 2-D plain autoencoder (Chapter 1's recipe) and both decoders' weights
    Latent2d,
    /// β from 0.5 to 4: rate against distortion
    Beta,
    /// Everything
    All,
}

/// Reproduce Chapter 5's results and figures.
#[derive(Parser, Debug, Clone)]
#[command(about, long_about = None)]
struct Args {
    /// What to run
    #[arg(long, value_enum, default_value_t = Experiment::Main)]
    experiment: Experiment,
    /// Importance samples per test image for the log p(x) estimate
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    importance_samples: u32,
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let args = Args::parse();
    ae_toolkit::cli::reproduce(&args.run, &[DatasetKind::Mnist], |data| run(&args, &data));
}

fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    if args.experiment.includes(Experiment::Main) {
        args.run.on_device(MainExperiment { args, data })?;
    }
    if args.experiment.includes(Experiment::Latent2d) {
        args.run.on_device(Latent2d { args, data })?;
    }
    if args.experiment.includes(Experiment::Beta) {
        beta_sweep(args, data)?;
    }
    Ok(())
}

fn main_flags(args: &Args) -> Vec<String> {
    let mut flags = vec!["--experiment".to_string(), "main".to_string()];
    if args.importance_samples != 100 {
        flags.extend([
            "--importance-samples".to_string(),
            args.importance_samples.to_string(),
        ]);
    }
    flags
}

fn part(e: &ae_toolkit::train::EpochRecord, name: &str) -> f64 {
    e.test
        .parts
        .iter()
        .find(|(n, _)| n == name)
        .map_or(f64::NAN, |(_, v)| *v)
}

fn train_logged<const Z: usize, D: Device<f32>>(
    args: &Args,
    dev: &D,
    data: &DataSplits,
    name: &str,
    beta: f32,
) -> anyhow::Result<(Model<Z, D>, History)> {
    let description = format!("{Z}-D VAE, β = {beta}, on {}", data.title());
    let run = args.run.run_options(CHAPTER, name, &description);
    eprintln!("training {name} ({description})");
    let (model, h) = train::<Z, D>(dev, data, beta, &args.run.train_config(10, 128), &run)?;
    println!(
        "{name}: test −ELBO per image {:.2} (reconstruction {:.2} + KL {:.2}) after {} epochs",
        h.last().test.loss,
        part(h.last(), "reconstruction"),
        part(h.last(), "kl"),
        h.last().epoch
    );
    Ok((model, h))
}

struct MainExperiment<'a> {
    args: &'a Args,
    data: &'a DataSplits,
}

impl OnDevice for MainExperiment<'_> {
    type Output = ();
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<()> {
        let MainExperiment { args, data } = self;
        let (model, h) = train_logged::<LATENT, D>(args, &dev, data, "vae-20d", 1.0)?;
        let out = args.run.out_dir(CHAPTER);

        // Loss per epoch and its two terms.
        let rows: Vec<Vec<String>> = h
            .epochs
            .iter()
            .map(|e| {
                vec![
                    e.epoch.to_string(),
                    e.train_loss.map_or("—".into(), |l| format!("{l:.2}")),
                    format!("**{:.2}**", e.test.loss),
                    format!("{:.2}", part(e, "reconstruction")),
                    format!("{:.2}", part(e, "kl")),
                ]
            })
            .collect();
        let mut table = markdown_table(
            &[
                "epoch · 轮",
                "train −ELBO · 训练",
                "test −ELBO · 测试",
                "test reconstruction (BCE) · 重构项",
                "test KL · KL 项",
            ],
            &rows,
        );
        table.push_str(&format!(
            "\nPer image, in nats; {}; 784-400-(20, 20) / 20-400-784, Adam lr 0.001, batch 128, seed \
             {}; {}. Reported by a widely used PyTorch example for this model: about {REPORTED} \
             after 10 epochs. `{}`\n",
            data.title(),
            args.run.seed,
            args.run.timing(&h),
            args.run.reproduce_command(PACKAGE, &main_flags(args))
        ));
        ae_toolkit::atomic::write(&out.join("epochs.md"), table.as_bytes())?;
        let curve = |name: &str, f: &dyn Fn(&ae_toolkit::train::EpochRecord) -> f64| Series {
            name: name.into(),
            points: h
                .epochs
                .iter()
                .skip(1)
                .map(|e| (e.epoch as f64, f(e)))
                .collect(),
        };
        line_chart(
            &out.join("loss.svg"),
            &format!("VAE (20-D) on {}: test loss per image", data.title()),
            "epoch",
            "nats per image",
            &[
                curve("−ELBO", &|e| e.test.loss),
                curve("reconstruction (BCE)", &|e| part(e, "reconstruction")),
            ],
        )?;

        // Samples from the prior, reconstructions, interpolations.
        let z: Vec<f32> = dev.sample_normal_like(&(8 * 12, Const::<LATENT>)).as_vec();
        let samples = decode(&model, &dev, &z);
        let rows: Vec<Vec<&[f32]>> = samples
            .chunks(12 * PIXELS)
            .map(|r| r.chunks(PIXELS).collect())
            .collect();
        image_rows(&out.join("samples.png"), &rows, (0.0, 1.0))?;

        let head = data.test.head(12);
        let x = dev.tensor_from_vec(head.images.clone(), (head.len(), Const::<PIXELS>));
        let (mu, _) = encode(&model, x);
        let mu = mu.as_vec();
        let recon = decode(&model, &dev, &mu);
        let originals: Vec<&[f32]> = head.images.chunks(PIXELS).collect();
        image_rows(
            &out.join("reconstructions.png"),
            &[originals, recon.chunks(PIXELS).collect()],
            (0.0, 1.0),
        )?;

        // Straight lines in latent space between the means of pairs of test digits.
        let pairs = [(0usize, 1usize), (2, 3), (4, 7)];
        let steps = 10;
        let mut line_codes = Vec::new();
        for (a, b) in pairs {
            for s in 0..steps {
                let t = s as f32 / (steps - 1) as f32;
                for j in 0..LATENT {
                    line_codes.push((1.0 - t) * mu[a * LATENT + j] + t * mu[b * LATENT + j]);
                }
            }
        }
        let lines = decode(&model, &dev, &line_codes);
        let rows: Vec<Vec<&[f32]>> = lines
            .chunks(steps * PIXELS)
            .map(|r| r.chunks(PIXELS).collect())
            .collect();
        image_rows(&out.join("interpolation.png"), &rows, (0.0, 1.0))?;

        // How loose is the bound? Importance-sampled log p(x) against the ELBO.
        let k = args.importance_samples as usize;
        eprintln!("estimating log p(x) with {k} importance samples per test image…");
        let log_px = importance_log_likelihood(&model, &dev, &data.test, k);
        let nll = -log_px.iter().sum::<f64>() / log_px.len() as f64;
        let elbo = h.last().test.loss;
        let table = markdown_table(
            &["", "nats per test image · 每张测试图像（奈特）"],
            &[
                vec![
                    "−ELBO (1 sample per image) · 负证据下界".into(),
                    format!("{elbo:.2}"),
                ],
                vec![
                    format!("−log p(x), importance sampling, K = {k} · 重要性采样估计"),
                    format!("**{nll:.2}**"),
                ],
                vec!["gap · 差距".into(), format!("{:.2}", elbo - nll)],
            ],
        );
        let table = format!(
            "{table}\n{}; the same trained model; `{}`\n",
            data.title(),
            args.run.reproduce_command(PACKAGE, &main_flags(args))
        );
        ae_toolkit::atomic::write(&out.join("likelihood.md"), table.as_bytes())?;
        // By name, for the text's comparisons (book/generated/ch05/results.json): the bound, and
        // the per-epoch table's columns (`main_kl_epoch_3`, …).
        let mut results = Results::new("main");
        results
            .number("likelihood_nelbo", elbo, 2)
            .number("likelihood_nll", nll, 2)
            .number("likelihood_gap", elbo - nll, 2);
        for e in &h.epochs {
            let n = e.epoch;
            if let Some(train) = e.train_loss {
                results.number(&format!("main_train_epoch_{n}"), train, 2);
            }
            results
                .number(&format!("main_test_epoch_{n}"), e.test.loss, 2)
                .number(&format!("main_rec_epoch_{n}"), part(e, "reconstruction"), 2)
                .number(&format!("main_kl_epoch_{n}"), part(e, "kl"), 2);
        }
        results.write(&out)?;
        println!("−ELBO {elbo:.2}, −log p(x) ≈ {nll:.2} (K = {k})");
        Ok(())
    }
}

struct Latent2d<'a> {
    args: &'a Args,
    data: &'a DataSplits,
}

impl OnDevice for Latent2d<'_> {
    type Output = ();
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<()> {
        let Latent2d { args, data } = self;
        let (model, h) = train_logged::<2, D>(args, &dev, data, "vae-2d", 1.0)?;
        let out = args.run.out_dir(CHAPTER);

        // The decoded manifold (see `manifold_codes`: equal steps cover equal prior mass).
        let n = 20;
        let images = decode(&model, &dev, &manifold_codes(n));
        let rows: Vec<Vec<&[f32]>> = images
            .chunks(n * PIXELS)
            .map(|r| r.chunks(PIXELS).collect())
            .collect();
        image_rows(&out.join("manifold.png"), &rows, (0.0, 1.0))?;

        let mut means = Vec::new();
        for batch in ae_toolkit::batch::batches(&dev, &data.test, 1000, None) {
            means.extend(encode(&model, batch.x).0.as_vec());
        }
        let points: Vec<(f64, f64)> = means
            .chunks(2)
            .map(|m| (m[0] as f64, m[1] as f64))
            .collect();
        scatter_by_class(
            &out.join("latent-2d.svg"),
            "Means of q(z|x) for the test set, 2-D VAE",
            ("z₁", "z₂"),
            &points,
            &data.test.labels,
            &data.kind.class_names(),
        )?;
        let last = h.last();
        let table = markdown_table(
            &[
                "latent size · 潜在维度",
                "test −ELBO · 测试",
                "reconstruction · 重构项",
                "KL",
            ],
            &[vec![
                "2".into(),
                format!("**{:.2}**", last.test.loss),
                format!("{:.2}", part(last, "reconstruction")),
                format!("{:.2}", part(last, "kl")),
            ]],
        );
        let table = format!(
            "{table}\nPer image, {}; {} epochs, seed {}; `{}`\n",
            data.title(),
            last.epoch,
            args.run.seed,
            args.run
                .reproduce_command(PACKAGE, &["--experiment", "latent2d"])
        );
        ae_toolkit::atomic::write(&out.join("latent-2d.md"), table.as_bytes())?;
        let mut results = Results::new("latent2d");
        results
            .number("latent2d_nelbo", last.test.loss, 2)
            .number("latent2d_rec", part(last, "reconstruction"), 2)
            .number("latent2d_kl", part(last, "kl"), 2);

        // For the latent-walk widget: a plain autoencoder with a 2-D code, trained like
        // Chapter 1's `basic`, then both decoders' weights.
        let mut ae = PlainAe2d::build_on_device(&dev);
        let run = args.run.run_options(
            CHAPTER,
            "plain-ae-2d",
            "784-400-2-400-784 plain autoencoder",
        );
        eprintln!("training plain-ae-2d (Chapter 1's recipe with a 2-D code)");
        let ae_h = train_reconstruction(
            &mut ae,
            &dev,
            data,
            ReconstructionLoss::BcePerImage,
            &args.run.train_config(10, 128),
            &run,
        )?;
        println!(
            "plain-ae-2d: test BCE per image {:.2} after {} epochs",
            ae_h.last().test.loss,
            ae_h.last().epoch
        );
        export_latent_walk(
            args,
            &dev,
            data,
            model,
            ae,
            ae_h.last().test.loss,
            &mut results,
        )?;
        results.write(&out).map(drop)
    }
}

/// Writes `latent-walk.safetensors` (both 2-D decoders in half precision, the test codes and
/// labels, a strip of test digits with their codes under both models),
/// `latent-walk-golden.safetensors` (codes and what the Rust decoders make of them, with the
/// f32 weights and with the weights rounded to f16, for the JavaScript tests) and
/// `latent-walk.md` (file size and the error of f16).
fn export_latent_walk<D: Device<f32>>(
    args: &Args,
    dev: &D,
    data: &DataSplits,
    mut vae: Model<2, D>,
    mut ae: <PlainAe2d as BuildOnDevice<D, f32>>::Built,
    ae_loss: f64,
    results: &mut Results,
) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let points = data.test.head(WIDGET_POINTS);
    let x = dev.tensor_from_vec(points.images.clone(), (points.len(), Const::<PIXELS>));
    let codes = encode(&vae, x.clone()).0.as_vec();
    let ae_codes = ae.0.forward(x).as_vec();
    // The strip: the first test image of each digit.
    let strip: Vec<usize> = (0..10u8)
        .filter_map(|d| data.test.labels.iter().position(|&l| l == d))
        .collect();
    let strip = data.test.select(&strip);
    let x = dev.tensor_from_vec(strip.images.clone(), (strip.len(), Const::<PIXELS>));
    let strip_vae = encode(&vae, x.clone()).0.as_vec();
    let strip_ae = ae.0.forward(x).as_vec();
    let ae_decode = |ae: &<PlainAe2d as BuildOnDevice<D, f32>>::Built, z: &[f32]| {
        let z = dev.tensor_from_vec(z.to_vec(), (z.len() / 2, Const::<2>));
        ae.1.forward(z).sigmoid().as_vec()
    };
    // Golden codes: the origin, two fixed points, and the midpoint of the first two strip codes.
    let mid = |c: &[f32]| [(c[0] + c[2]) / 2.0, (c[1] + c[3]) / 2.0];
    let mut vae_z = vec![0.0, 0.0, 1.5, -0.75, -2.0, 2.5];
    vae_z.extend(mid(&strip_vae));
    let mut ae_z = strip_ae[..4].to_vec();
    ae_z.extend(mid(&strip_ae));
    ae_z.extend([0.0, 0.0]);
    let (vae32, ae32) = (decode(&vae, dev, &vae_z), ae_decode(&ae, &ae_z));
    // What rounding to f16 costs, over the decodings of all the drawn codes.
    let (vae_all, ae_all) = (decode(&vae, dev, &codes), ae_decode(&ae, &ae_codes));
    round_to_f16(&mut vae);
    round_to_f16(&mut ae);
    let (vae16, ae16) = (decode(&vae, dev, &vae_z), ae_decode(&ae, &ae_z));
    let err_vae = max_abs_diff(&vae_all, &decode(&vae, dev, &codes));
    let err_ae = max_abs_diff(&ae_all, &ae_decode(&ae, &ae_codes));

    let mut file = SafeTensors::default();
    file.metadata(
        "holds",
        "decoders of the 2-D VAE (vae.*) and of a 2-D plain autoencoder (ae.*), dfdx layer \
         names, Linear weights (out, in), outputs are logits; VAE posterior means of test \
         images (codes), the plain autoencoder's codes of the same images (ae.codes), their \
         labels; the first test image of each digit (strip.images, 0-255) with \
         its code under both models",
    );
    file.metadata(
        "command",
        args.run
            .reproduce_command(PACKAGE, &["--experiment", "latent2d"]),
    );
    file.add_module("vae.", &vae.1, Dtype::F16);
    file.add_module("ae.", &ae.1, Dtype::F16);
    file.add("codes", &[points.len(), 2], &codes, Dtype::F16);
    file.add("ae.codes", &[points.len(), 2], &ae_codes, Dtype::F16);
    let labels: Vec<f32> = points.labels.iter().map(|&l| l as f32).collect();
    file.add("labels", &[points.len()], &labels, Dtype::U8);
    let pixels: Vec<f32> = strip.images.iter().map(|p| p * 255.0).collect();
    file.add("strip.images", &[strip.len(), PIXELS], &pixels, Dtype::U8);
    file.add("strip.vae", &[strip.len(), 2], &strip_vae, Dtype::F32);
    file.add("strip.ae", &[strip.len(), 2], &strip_ae, Dtype::F32);
    let bytes = file.write(&out.join("latent-walk.safetensors"))?;

    let mut golden = SafeTensors::default();
    golden.metadata(
        "holds",
        "codes (*.z) and pixel probabilities decoded from them by the Rust model with f32 \
         weights (*.f32) and with the weights rounded to f16 as in latent-walk.safetensors \
         (*.f16)",
    );
    for (name, z, y32, y16) in [("vae", &vae_z, &vae32, &vae16), ("ae", &ae_z, &ae32, &ae16)] {
        let n = z.len() / 2;
        golden.add(&format!("{name}.z"), &[n, 2], z, Dtype::F32);
        golden.add(&format!("{name}.f32"), &[n, PIXELS], y32, Dtype::F32);
        golden.add(&format!("{name}.f16"), &[n, PIXELS], y16, Dtype::F32);
    }
    golden.write(&out.join("latent-walk-golden.safetensors"))?;

    let table = weights_table(
        "ch05/latent-walk.safetensors",
        &format!(
            "2-D VAE decoder, 2-D plain autoencoder decoder (784-400-2-400-784, Chapter 1's \
             recipe, test BCE {:.2}), {} test codes · 两个二维解码器与 {} 个测试编码",
            ae_loss,
            points.len(),
            points.len()
        ),
        bytes,
        err_vae.max(err_ae),
        &format!(
            "pixel probabilities of the {} decoded test codes",
            points.len()
        ),
    );
    println!(
        "latent-walk.safetensors: {bytes} bytes; f16 rounding changes decoded pixels by at most \
         {err_vae:.5} (VAE), {err_ae:.5} (plain AE)"
    );
    // How far the two models' codes of the same test images lie from the origin (root mean
    // square), for "several times wider than the VAE's"; and the f16 rounding's cost.
    results
        .number("latent_walk_f16_max_change", err_vae.max(err_ae) as f64, 4)
        .number("latent2d_code_rms_vae", rms(&codes), 2)
        .number("latent2d_code_rms_ae", rms(&ae_codes), 2);
    ae_toolkit::atomic::write(&out.join("latent-walk.md"), table.as_bytes())
}

struct BetaRun<'a> {
    args: &'a Args,
    data: &'a DataSplits,
    beta: f32,
}

impl OnDevice for BetaRun<'_> {
    type Output = History;
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<History> {
        let name = format!("beta-{}", self.beta);
        Ok(train_logged::<LATENT, D>(self.args, &dev, self.data, &name, self.beta)?.1)
    }
}

fn beta_sweep(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut points = Vec::new();
    let mut results = Results::new("beta");
    for beta in BETAS {
        let h = args.run.on_device(BetaRun { args, data, beta })?;
        let last = h.last();
        let (rec, kl) = (part(last, "reconstruction"), part(last, "kl"));
        points.push((kl, rec));
        // By name: `beta_0_5_distortion`, `beta_0_5_rate`, `beta_0_5_nelbo`, … (β as in the table).
        let b = format!("{beta}").replace('.', "_");
        results
            .number(&format!("beta_{b}_distortion"), rec, 2)
            .number(&format!("beta_{b}_rate"), kl, 2)
            .number(&format!("beta_{b}_nelbo"), rec + kl, 2);
        rows.push(vec![
            format!("{beta}"),
            format!("{rec:.2}"),
            format!("{kl:.2}"),
            format!("{:.2}", rec + kl),
        ]);
    }
    let out = args.run.out_dir(CHAPTER);
    line_chart(
        &out.join("beta-sweep.svg"),
        &format!(
            "β from {} to {}: distortion against rate",
            BETAS[0],
            BETAS[BETAS.len() - 1]
        ),
        "rate: KL(q(z|x) ‖ p(z)), nats per image",
        "distortion: reconstruction BCE, nats per image",
        &[Series {
            name: "β sweep".into(),
            points,
        }],
    )?;
    let table = markdown_table(
        &[
            "β",
            "distortion (BCE) · 失真",
            "rate (KL) · 码率",
            "−ELBO (β = 1) · 负证据下界",
        ],
        &rows,
    );
    let table = format!(
        "{table}\nTest set, per image, {}; 20-D latent space, {} epochs, seed {}; `{}`\n",
        data.title(),
        args.run.epochs_or(10),
        args.run.seed,
        args.run
            .reproduce_command(PACKAGE, &["--experiment", "beta"])
    );
    ae_toolkit::atomic::write(&out.join("beta-sweep.md"), table.as_bytes())?;
    results.write(&out).map(drop)
}

/// The root mean square distance from the origin of 2-D codes stored as (z₁, z₂) pairs.
fn rms(codes: &[f32]) -> f64 {
    let sum: f64 = codes.iter().map(|&c| c as f64 * c as f64).sum();
    (sum / (codes.len() / 2).max(1) as f64).sqrt()
}
