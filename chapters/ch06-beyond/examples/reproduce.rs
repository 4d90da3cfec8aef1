//! Reproduces Chapter 6 and writes every number and figure it shows into `book/generated/ch06/`.
//!
//! ```text
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment pca
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment deep --deep-epochs 60
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment anomaly
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment all
//! ```
//!
//! Data: full MNIST from the data directory (`cargo xtask fetch-data`), otherwise the embedded
//! 2,000/500-image subset (announced on stderr). The deep run keeps a checkpoint after every
//! epoch in `target/runs/ch06/deep`; `--resume` continues it.

use std::path::Path;

use ae_toolkit::cli::{markdown_table, RunArgs};
use ae_toolkit::data::{load, DataSplits, DatasetKind, PIXELS};
use ae_toolkit::device::{on_device, OnDevice};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::Reconstruction;
use ae_toolkit::model::{reconstruct, train_reconstruction};
use ae_toolkit::pca::Pca;
use ae_toolkit::plot::{image_rows, line_chart, Series};
use ae_toolkit::train::{History, TrainConfig};
use ch06_beyond::*;
use clap::Parser;

const CHAPTER: &str = "ch06";
const PACKAGE: &str = "ch06-beyond";
/// Code widths of the PCA comparison.
const WIDTHS: [usize; 3] = [2, 10, 30];
/// Code width of the anomaly detectors (Chapter 1's `basic` and Chapter 5's VAE).
const ANOMALY_K: usize = 20;
/// Draws of the reparameterized code per image for the VAE's −ELBO score.
const ELBO_SAMPLES: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Experiment {
    /// Linear autoencoder vs PCA (principal angles), and a nonlinear one, at code widths 2, 10, 30
    Pca,
    /// The 784-1000-500-250-30 autoencoder against Hinton & Salakhutdinov's numbers
    Deep,
    /// Anomaly detection: each digit held out in turn, AE vs VAE vs PCA (ROC-AUC)
    Anomaly,
    /// Everything above
    All,
}

/// Reproduce Chapter 6's results and figures.
#[derive(Parser, Debug, Clone)]
#[command(about, long_about = None)]
struct Args {
    /// What to run
    #[arg(long, value_enum, default_value_t = Experiment::Pca)]
    experiment: Experiment,
    /// Epochs of the linear autoencoders (cheap; they approach the PCA subspace slowly)
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    linear_epochs: u32,
    /// Epochs of the deep autoencoder: the run's budget (about 11 s each on 2 idle CPU cores)
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    deep_epochs: u32,
    // The nonlinear autoencoders and VAEs train for 10 epochs, as in Chapters 1 and 5; the shared
    // `--epochs` flag overrides all three epoch counts.
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    ae_toolkit::cli::exit_on_error(run(&Args::parse()));
}

fn run(args: &Args) -> anyhow::Result<()> {
    let data = load(DatasetKind::Mnist, &args.run.data_dir())?;
    eprintln!("{}", data.describe());
    let all = args.experiment == Experiment::All;
    if all || args.experiment == Experiment::Pca {
        on_device(
            args.run.device,
            args.run.seed,
            PcaComparison { args, data: &data },
        )?;
    }
    if all || args.experiment == Experiment::Deep {
        on_device(
            args.run.device,
            args.run.seed,
            DeepRun { args, data: &data },
        )?;
    }
    if all || args.experiment == Experiment::Anomaly {
        anomaly(args, &data)?;
    }
    Ok(())
}

fn command(args: &Args, flags: &[String]) -> String {
    format!("`{}`", args.run.reproduce_command(PACKAGE, flags))
}

fn cfg(args: &Args, epochs: usize) -> TrainConfig {
    TrainConfig {
        seed: args.run.seed,
        ..TrainConfig::adam(args.run.epochs_or(epochs), 128)
    }
}

fn degrees(radians: &[f64]) -> Vec<f64> {
    radians.iter().map(|r| r.to_degrees()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Linear autoencoder vs PCA

struct PcaComparison<'a> {
    args: &'a Args,
    data: &'a DataSplits,
}

/// What one code width measured.
struct WidthResult {
    k: usize,
    pca: f64,
    linear: f64,
    nonlinear: f64,
    angles: Vec<f64>,
    linear_recon: Vec<f32>,
    nonlinear_recon: Vec<f32>,
}

impl OnDevice for PcaComparison<'_> {
    type Output = ();
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<()> {
        let PcaComparison { args, data } = self;
        let out = args.run.out_dir(CHAPTER);
        let pca = Pca::fit(&data.train.images, PIXELS, 30);
        let mut results = Vec::new();
        for &k in &WIDTHS {
            let r = match k {
                2 => width::<2, D>(&dev, args, data, &pca)?,
                10 => width::<10, D>(&dev, args, data, &pca)?,
                30 => width::<30, D>(&dev, args, data, &pca)?,
                _ => unreachable!("WIDTHS lists only these"),
            };
            println!(
                "k = {k}: PCA {:.3}, linear AE {:.3}, nonlinear AE {:.3} squared error per image; \
                 principal angles (°) max {:.2}, mean {:.2}",
                r.pca,
                r.linear,
                r.nonlinear,
                r.angles.last().unwrap(),
                mean(&r.angles)
            );
            results.push(r);
        }

        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.k.to_string(),
                    format!("{:.2}", r.pca),
                    format!("{:.2}", r.linear),
                    format!("{:.2}", r.nonlinear),
                    format!("{:.2}", r.angles[0]),
                    format!("{:.2}", mean(&r.angles)),
                    format!("{:.2}", r.angles.last().unwrap()),
                ]
            })
            .collect();
        let table = markdown_table(
            &[
                "k",
                "PCA",
                "linear AE · 线性自编码器",
                "nonlinear AE · 非线性自编码器",
                "smallest angle · 最小夹角 (°)",
                "mean angle · 平均夹角 (°)",
                "largest angle · 最大夹角 (°)",
            ],
            &rows,
        );
        let flags = vec!["--experiment".to_string(), "pca".to_string()];
        let note = format!(
            "\nSquared error summed over the 784 pixels, averaged over the {} test images; \
             angles between the linear decoder's column space and the top-k principal \
             directions. · 误差为每张测试图像 784 个像素的平方误差之和，再对 {} 张测试图像取平均；\
             夹角为线性解码器列空间与前 k 个主方向之间的主夹角。\n\n{} · Adam, batch 128, \
             linear: lr {LINEAR_LEARNING_RATE}, {} epochs; nonlinear: lr 1e-3, {} epochs; seed {}.\n\nCommand · 命令: {}\n",
            data.test.len(),
            data.test.len(),
            data.label(),
            args.run.epochs_or(args.linear_epochs as usize),
            args.run.epochs_or(10),
            args.run.seed,
            command(args, &flags)
        );
        ae_toolkit::atomic::write(&out.join("pca-comparison.md"), (table + &note).as_bytes())?;

        let series = |name: &str, f: &dyn Fn(&WidthResult) -> f64| Series {
            name: name.into(),
            points: results.iter().map(|r| (r.k as f64, f(r))).collect(),
        };
        line_chart(
            &out.join("pca-comparison.svg"),
            &format!("Reconstruction error vs code width on {}", data.label()),
            "code width k",
            "squared error per test image",
            &[
                series("PCA", &|r| r.pca),
                series("linear AE", &|r| r.linear),
                series("nonlinear AE", &|r| r.nonlinear),
            ],
        )?;
        let angles30 = &results.last().unwrap().angles;
        line_chart(
            &out.join("principal-angles.svg"),
            "Principal angles, linear AE (k = 30) vs PCA-30",
            "index",
            "angle (degrees)",
            &[Series {
                name: "linear AE vs PCA".into(),
                points: angles30
                    .iter()
                    .enumerate()
                    .map(|(i, &a)| ((i + 1) as f64, a))
                    .collect(),
            }],
        )?;

        // Rows: originals, then PCA, linear AE, nonlinear AE at k = 10.
        let n = 10;
        let r10 = &results[1];
        let originals: Vec<&[f32]> = (0..n).map(|i| data.test.image(i)).collect();
        let head = data.test.head(n);
        let pca_rec: Vec<f32> = pca
            .reconstruct(&head.images, r10.k)
            .iter()
            .map(|&v| v as f32)
            .collect();
        image_rows(
            &out.join("pca-reconstructions.png"),
            &[
                originals,
                pca_rec.chunks(PIXELS).collect(),
                r10.linear_recon.chunks(PIXELS).collect(),
                r10.nonlinear_recon.chunks(PIXELS).collect(),
            ],
            (0.0, 1.0),
        )?;
        Ok(())
    }
}

fn width<const K: usize, D: Device<f32>>(
    dev: &D,
    args: &Args,
    data: &DataSplits,
    pca: &Pca,
) -> anyhow::Result<WidthResult> {
    let linear_cfg = TrainConfig {
        learning_rate: LINEAR_LEARNING_RATE,
        ..cfg(args, args.linear_epochs as usize)
    };
    let (linear, _) = train_linear::<K, D>(
        dev,
        data,
        &linear_cfg,
        &args.run.run_options(
            CHAPTER,
            &format!("linear-{K}"),
            &format!("linear AE, k {K}, on {}", data.label()),
        ),
    )?;
    let mut nonlinear = NonlinearAe::<K>::build_on_device(dev);
    train_reconstruction(
        &mut nonlinear,
        dev,
        data,
        Reconstruction::BcePerImage,
        &cfg(args, 10),
        &args.run.run_options(
            CHAPTER,
            &format!("nonlinear-{K}"),
            &format!("784-400-{K} AE on {}", data.label()),
        ),
    )?;
    let pca_k = Pca {
        components: pca.components[..K].to_vec(),
        variances: pca.variances[..K].to_vec(),
        mean: pca.mean.clone(),
    };
    let angles = degrees(&principal_angles(
        &decoder_columns(&linear.1),
        &pca_k.components,
    ));
    Ok(WidthResult {
        k: K,
        pca: mean(&pca_squared_errors(pca, &data.test, K)),
        linear: mean(&model_squared_errors(
            &linear,
            dev,
            &data.test,
            Reconstruction::LinearMse,
        )),
        nonlinear: mean(&model_squared_errors(
            &nonlinear,
            dev,
            &data.test,
            Reconstruction::BcePerImage,
        )),
        angles,
        linear_recon: reconstruct(&linear, dev, &data.test, 10, Reconstruction::LinearMse),
        nonlinear_recon: reconstruct(&nonlinear, dev, &data.test, 10, Reconstruction::BcePerImage),
    })
}

// ---------------------------------------------------------------------------------------------
// 2. The deep autoencoder against Hinton & Salakhutdinov (2006)

struct DeepRun<'a> {
    args: &'a Args,
    data: &'a DataSplits,
}

impl OnDevice for DeepRun<'_> {
    type Output = ();
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<()> {
        let DeepRun { args, data } = self;
        let out = args.run.out_dir(CHAPTER);
        let pca = Pca::fit(&data.train.images, PIXELS, 30);
        let pca30 = mean(&pca_squared_errors(&pca, &data.test, 30));
        println!("PCA-30: {pca30:.3} squared error per test image (paper: {PAPER_PCA_30})");

        let cfg = cfg(args, args.deep_epochs as usize);
        let mut model = Deep::build_on_device(&dev);
        let h = train_bce_scored_by_squared_error(
            &mut model,
            &dev,
            data,
            &cfg,
            &args.run.run_options(
                CHAPTER,
                "deep",
                &format!("784-1000-500-250-30 AE on {}", data.label()),
            ),
        )?;
        let last = h.last();
        println!(
            "deep AE: {:.3} squared error per test image after {} epochs, {:.0} s of training \
             (paper: {PAPER_DEEP_AE})",
            last.test.loss,
            last.epoch,
            h.training_seconds()
        );
        deep_outputs(args, data, &dev, &model, &pca, pca30, &h, &out)
    }
}

#[allow(clippy::too_many_arguments)]
fn deep_outputs<D: Device<f32>>(
    args: &Args,
    data: &DataSplits,
    dev: &D,
    model: &<Deep as BuildOnDevice<D, f32>>::Built,
    pca: &Pca,
    pca30: f64,
    h: &History,
    out: &Path,
) -> anyhow::Result<()> {
    // Error against cumulative training time (minutes), with the two reference levels.
    let mut elapsed = 0.0;
    let curve: Vec<(f64, f64)> = h
        .epochs
        .iter()
        .skip(1)
        .map(|e| {
            elapsed += e.seconds;
            (elapsed / 60.0, e.test.loss)
        })
        .collect();
    let end = elapsed / 60.0;
    let level = |name: &str, v: f64| Series {
        name: name.into(),
        points: vec![(0.0, v), (end, v)],
    };
    line_chart(
        &out.join("deep-curve.svg"),
        &format!("784-1000-500-250-30 autoencoder on {}", data.label()),
        "training time (minutes, 2 CPU cores)",
        "squared error per test image",
        &[
            Series {
                name: "deep AE (this book)".into(),
                points: curve,
            },
            level("PCA-30 (this book)", pca30),
            level("deep AE (paper)", PAPER_DEEP_AE),
        ],
    )?;

    let n = 10;
    let originals: Vec<&[f32]> = (0..n).map(|i| data.test.image(i)).collect();
    let deep_rec = reconstruct(model, dev, &data.test, n, Reconstruction::BcePerImage);
    let pca_rec: Vec<f32> = pca
        .reconstruct(&data.test.head(n).images, 30)
        .iter()
        .map(|&v| v as f32)
        .collect();
    image_rows(
        &out.join("deep-reconstructions.png"),
        &[
            originals,
            deep_rec.chunks(PIXELS).collect(),
            pca_rec.chunks(PIXELS).collect(),
        ],
        (0.0, 1.0),
    )?;

    // The curve as a table, every few epochs.
    let step = (h.epochs.len() / 8).max(1);
    let mut elapsed = 0.0;
    let mut rows = Vec::new();
    for e in h.epochs.iter().skip(1) {
        elapsed += e.seconds;
        if e.epoch % step == 0 || e.epoch == h.last().epoch || e.epoch == 1 {
            let bce = e.test.parts.iter().find(|(n, _)| n == "bce").map(|p| p.1);
            rows.push(vec![
                e.epoch.to_string(),
                format!("{:.1}", elapsed / 60.0),
                format!("{:.2}", e.test.loss),
                format!("{:.2}", bce.unwrap_or(f64::NAN)),
            ]);
        }
    }
    let table = markdown_table(
        &[
            "epoch · 轮",
            "minutes · 分钟",
            "squared error · 平方误差",
            "BCE",
        ],
        &rows,
    );
    let cfg = cfg(args, args.deep_epochs as usize);
    let flags = vec![
        "--experiment".to_string(),
        "deep".to_string(),
        "--deep-epochs".to_string(),
        args.deep_epochs.to_string(),
    ];
    let summary = markdown_table(
        &["", "this book · 本书", "paper · 论文"],
        &[
            vec![
                "PCA, 30 components · 30 个主成分".into(),
                format!("**{pca30:.2}**"),
                format!("{PAPER_PCA_30:.2}"),
            ],
            vec![
                "784-1000-500-250-30 autoencoder · 自编码器".into(),
                format!("**{:.2}**", h.last().test.loss),
                format!("{PAPER_DEEP_AE:.2}"),
            ],
        ],
    );
    let text = format!(
        "{summary}\nSquared error per test image (sum over 784 pixels, mean over {} images) · \
         每张测试图像的平方误差（784 个像素求和，{} 张图像取平均）。\n\n\
         {} · Adam lr {}, batch {}, {} epochs, BCE loss, seed {} · training time · 训练时间 {}.\n\n\
         Command · 命令: {}\n\n{table}",
        data.test.len(),
        data.test.len(),
        data.label(),
        cfg.learning_rate,
        cfg.batch_size,
        cfg.epochs,
        cfg.seed,
        args.run.timing(h),
        command(args, &flags)
    );
    ae_toolkit::atomic::write(&out.join("deep-summary.md"), text.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// 3. Anomaly detection

/// One held-out digit's scores on the whole test set.
struct HeldOut {
    digit: u8,
    ae: Vec<f64>,
    vae: Vec<f64>,
    pca: Vec<f64>,
}

struct AnomalyRun<'a> {
    args: &'a Args,
    split: &'a DataSplits,
    digit: u8,
}

impl OnDevice for AnomalyRun<'_> {
    type Output = HeldOut;
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<HeldOut> {
        let AnomalyRun { args, split, digit } = self;
        let cfg = cfg(args, 10);
        let mut ae = NonlinearAe::<ANOMALY_K>::build_on_device(&dev);
        train_reconstruction(
            &mut ae,
            &dev,
            split,
            Reconstruction::BcePerImage,
            &cfg,
            &args.run.run_options(
                CHAPTER,
                &format!("anomaly-ae-{digit}"),
                &format!("784-400-20 AE without digit {digit} on {}", split.label()),
            ),
        )?;
        let (vae, _) = ch05_vae::train::<ANOMALY_K, D>(
            &dev,
            split,
            1.0,
            &cfg,
            &args.run.run_options(
                CHAPTER,
                &format!("anomaly-vae-{digit}"),
                &format!("VAE without digit {digit} on {}", split.label()),
            ),
        )?;
        let pca = Pca::fit(&split.train.images, PIXELS, ANOMALY_K);
        Ok(HeldOut {
            digit,
            ae: model_bce_per_image(&ae, &dev, &split.test),
            vae: vae_negative_elbo(&vae, &dev, &split.test, ELBO_SAMPLES),
            pca: pca_squared_errors(&pca, &split.test, ANOMALY_K),
        })
    }
}

fn anomaly(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let test = &data.test;
    let mut rows = Vec::new();
    let mut aucs = Vec::new();
    let mut most = Vec::new();
    let mut least = Vec::new();
    for digit in 0..10u8 {
        let split = without_digit(data, digit);
        let r = on_device(
            args.run.device,
            args.run.seed,
            AnomalyRun {
                args,
                split: &split,
                digit,
            },
        )?;
        let auc = |s: &[f64]| {
            let (normal, anomalous) = split_scores(s, &test.labels, r.digit);
            roc_auc(&normal, &anomalous).map_err(|e| anyhow::anyhow!("digit {}: {e}", r.digit))
        };
        let a = [auc(&r.ae)?, auc(&r.vae)?, auc(&r.pca)?];
        println!(
            "digit {digit} held out: ROC-AUC AE {:.3}, VAE {:.3}, PCA {:.3}",
            a[0], a[1], a[2]
        );
        rows.push(
            std::iter::once(digit.to_string())
                .chain(a.iter().map(|v| format!("{v:.3}")))
                .collect(),
        );
        aucs.push(a);
        let (hi, lo) = extremes(&r.ae, 10);
        most.push(test.gather(&hi));
        least.push(test.gather(&lo));
    }
    let means: Vec<f64> = (0..3)
        .map(|j| mean(&aucs.iter().map(|a| a[j]).collect::<Vec<_>>()))
        .collect();
    rows.push(
        std::iter::once("mean · 平均".to_string())
            .chain(means.iter().map(|v| format!("**{v:.3}**")))
            .collect(),
    );
    println!(
        "mean ROC-AUC: AE {:.3}, VAE {:.3}, PCA {:.3}",
        means[0], means[1], means[2]
    );
    let table = markdown_table(
        &[
            "held-out digit · 留出的数字",
            "AE (BCE)",
            "VAE (−ELBO)",
            "PCA-20 (squared error · 平方误差)",
        ],
        &rows,
    );
    let flags = vec!["--experiment".to_string(), "anomaly".to_string()];
    let cfg = cfg(args, 10);
    let note = format!(
        "\nROC-AUC of each score for \"this test image is the held-out digit\" on all {} test \
         images of {} · 各分数在全部 {} 张测试图像上区分“留出的数字”的 ROC-AUC。\
         AE: 784-400-20-400-784; VAE: Chapter 5's, 20-D, −ELBO averaged over {ELBO_SAMPLES} \
         draws; PCA: 20 components. Adam lr {}, batch {}, {} epochs, seed {}.\n\n\
         Command · 命令: {}\n",
        test.len(),
        data.label(),
        test.len(),
        cfg.learning_rate,
        cfg.batch_size,
        cfg.epochs,
        cfg.seed,
        command(args, &flags)
    );
    ae_toolkit::atomic::write(&out.join("anomaly-auc.md"), (table + &note).as_bytes())?;
    let series = |name: &str, j: usize| Series {
        name: name.into(),
        points: aucs
            .iter()
            .enumerate()
            .map(|(d, a)| (d as f64, a[j]))
            .collect(),
    };
    line_chart(
        &out.join("anomaly-auc.svg"),
        &format!("ROC-AUC per held-out digit ({})", data.label()),
        "held-out digit",
        "ROC-AUC",
        &[
            series("AE (BCE)", 0),
            series("VAE (−ELBO)", 1),
            series("PCA-20", 2),
        ],
    )?;
    image_rows(&out.join("anomaly-most.png"), &rows_of(&most), (0.0, 1.0))?;
    image_rows(&out.join("anomaly-least.png"), &rows_of(&least), (0.0, 1.0))?;
    Ok(())
}

fn rows_of(v: &[Vec<f32>]) -> Vec<Vec<&[f32]>> {
    v.iter().map(|imgs| imgs.chunks(PIXELS).collect()).collect()
}

/// Indices of the `n` highest and the `n` lowest scores, highest (resp. lowest) first.
fn extremes(scores: &[f64], n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let hi = order[..n.min(order.len())].to_vec();
    let lo = order.iter().rev().take(n).copied().collect();
    (hi, lo)
}
