//! Reproduces Chapter 1: trains the chosen presets on MNIST and writes every number and figure
//! the chapter shows into `book/generated/ch01/`; the `basic` preset also writes its weights (f16
//! safetensors) and golden outputs for the drawing widget of Chapter 3's page.
//!
//! Data: the full MNIST set from the data directory if it is there (`cargo xtask fetch-data`),
//! otherwise the 2,000/500-image subset compiled into `ae-toolkit` (announced on stderr).
//!
//! ```text
//! cargo run --release -p ch01-autoencoder --example reproduce -- --preset basic
//! cargo run --release -p ch01-autoencoder --example reproduce -- --preset all
//! cargo run --release -p ch01-autoencoder --example reproduce -- --help
//! ```

use std::path::Path;

use ae_toolkit::cli::{RunArgs, Selection};
use ae_toolkit::data::{DataSplits, DatasetKind, PIXELS};
use ae_toolkit::device::OnDevice;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::export::{max_abs_diff, round_to_f16, weights_table, Dtype, SafeTensors};
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::{encode_all, reconstruct, Autoencoder};
use ae_toolkit::pca::Pca;
use ae_toolkit::plot::{image_rows, line_chart, scatter_by_class, Series};
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::History;
use ch01_autoencoder::{config, train, Basic, Deep, Init, Preset, PresetName, Shallow};
use clap::Parser;

/// The preset whose training is repeated with both initialisations: the Keras blog's model,
/// whose reported loss depends on Keras' Glorot default.
const INIT_COMPARISON: PresetName = PresetName::Shallow;
type InitComparisonModel = Shallow;
const CHAPTER: &str = "ch01";
/// Test images on which the f16 rounding of the exported weights is measured.
const F16_CHECK_IMAGES: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
/// What to run: a preset, the initialisation comparison, or all (the `--preset` flag).
enum Experiment {
    /// 784-400-20 autoencoder, BCE per image (10 epochs)
    Basic,
    /// 784-128-64-32 autoencoder, MSE (10 epochs)
    Deep,
    /// 784-32 autoencoder of the Keras blog, BCE per pixel (50 epochs)
    Shallow,
    /// The `shallow` preset trained with dfdx's default and with Glorot initialisation
    InitComparison,
    /// Everything above
    All,
}

/// Reproduce Chapter 1's results and figures.
#[derive(Parser, Debug, Clone)]
#[command(about, long_about = None)]
struct Args {
    /// What to train
    #[arg(long, value_enum, default_value_t = Experiment::Basic)]
    preset: Experiment,
    /// Initialisation [default: the preset's: `default` for basic and deep, `glorot` for shallow];
    /// the init comparison always runs both
    #[arg(long, value_enum)]
    init: Option<Init>,
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let args = Args::parse();
    ae_toolkit::cli::reproduce(&args.run, &[DatasetKind::Mnist], |data| run(&args, &data));
}

fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let presets: Vec<PresetName> = match args.preset {
        Experiment::Basic => vec![PresetName::Basic],
        Experiment::Deep => vec![PresetName::Deep],
        Experiment::Shallow => vec![PresetName::Shallow],
        Experiment::InitComparison => vec![],
        Experiment::All => PresetName::ALL.to_vec(),
    };
    for name in presets {
        let preset = name.preset();
        let init = args.init.unwrap_or(preset.init);
        // Every run gets a freshly seeded device, so its result does not depend on what ran
        // before it in the same process.
        let history = args.run.on_device(Preset1 {
            args,
            data,
            preset,
            init,
        })?;
        println!(
            "{}: test {} {:.4} after {} epochs (untrained {:.4})",
            preset.id,
            preset.loss.unit(),
            history.last().test.loss,
            history.last().epoch,
            history.untrained_test_loss()
        );
    }
    if args.preset.includes(Experiment::InitComparison) {
        init_comparison(args, data)?;
    }
    Ok(())
}

/// One preset trained on one device.
struct Preset1<'a> {
    args: &'a Args,
    data: &'a DataSplits,
    preset: Preset,
    init: Init,
}

impl OnDevice for Preset1<'_> {
    type Output = History;
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<History> {
        let Preset1 {
            args,
            data,
            preset,
            init,
        } = self;
        match preset.name {
            PresetName::Basic => reproduce::<Basic, D>(&dev, args, data, &preset, init),
            PresetName::Deep => reproduce::<Deep, D>(&dev, args, data, &preset, init),
            PresetName::Shallow => reproduce::<Shallow, D>(&dev, args, data, &preset, init),
        }
    }
}

/// The comparison preset trained once with a given initialisation.
struct InitRun<'a> {
    args: &'a Args,
    data: &'a DataSplits,
    init: Init,
}

impl OnDevice for InitRun<'_> {
    type Output = History;
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<History> {
        let preset = INIT_COMPARISON.preset();
        Ok(
            run_one::<InitComparisonModel, D>(&dev, self.args, self.data, &preset, self.init)?
                .0
                .history,
        )
    }
}

/// Trains one preset and writes its loss curve, reconstructions, latent scatter and summary.
fn reproduce<M, D>(
    dev: &D,
    args: &Args,
    data: &DataSplits,
    preset: &Preset,
    init: Init,
) -> anyhow::Result<History>
where
    D: Device<f32>,
    M: BuildOnDevice<D, f32>,
    M::Built: Autoencoder<D>,
{
    let (mut trained, cfg) = run_one::<M, D>(dev, args, data, preset, init)?;
    let out = args.run.out_dir(CHAPTER);
    let h = &trained.history;
    let unit = preset.loss.unit();
    let train_curve = h
        .epochs
        .iter()
        .filter_map(|e| e.train_loss.map(|l| (e.epoch as f64, l)))
        .collect();
    // From epoch 1 on: the untrained loss (in the summary table) would flatten the curves.
    let test_curve = h
        .epochs
        .iter()
        .skip(1)
        .map(|e| (e.epoch as f64, e.test.loss))
        .collect();
    line_chart(
        &out.join(format!("{}-loss.svg", preset.id)),
        &format!("{} ({}) on {}", preset.id, preset.widths, data.title()),
        "epoch",
        unit,
        &[
            Series {
                name: "train".into(),
                points: train_curve,
            },
            Series {
                name: "test".into(),
                points: test_curve,
            },
        ],
    )?;

    let n = 12;
    let recon = reconstruct(&trained.model, dev, &data.test, n, preset.loss);
    let originals: Vec<&[f32]> = (0..n).map(|i| data.test.image(i)).collect();
    let rebuilt: Vec<&[f32]> = recon.chunks(PIXELS).collect();
    image_rows(
        &out.join(format!("{}-reconstructions.png", preset.id)),
        &[originals, rebuilt],
        (0.0, 1.0),
    )?;

    if preset.name == PresetName::Basic {
        latent_scatter(&trained.model, dev, data, &out.join("basic-latent.svg"))?;
    }

    let last = h.last();
    let mut rows = vec![
        row("data · 数据", data.title()),
        row(
            "model · 模型",
            format!("{}, init {:?}", preset.widths, init).to_lowercase(),
        ),
        row(
            "recipe · 训练设置",
            format!(
                "Adam lr {}, batch {}, {} epochs, seed {}",
                cfg.learning_rate, cfg.batch_size, cfg.epochs, cfg.seed
            ),
        ),
        row(
            &format!("test loss · 测试损失 ({unit}), untrained → trained"),
            format!("{:.4} → **{:.4}**", h.untrained_test_loss(), last.test.loss),
        ),
        row(
            &format!("train loss · 训练损失 ({unit}), last epoch"),
            format!("{:.4}", last.train_loss.unwrap_or(f64::NAN)),
        ),
    ];
    if let Some((value, source)) = preset.reported {
        rows.push(row("reported · 教程报告值", format!("{value} ({source})")));
    }
    rows.push(row("training time · 训练时间", args.run.timing(h)));
    rows.push(row(
        "command · 命令",
        format!("`{}`", command(args, preset.id, args.init)),
    ));
    ae_toolkit::atomic::write(
        &out.join(format!("{}-summary.md", preset.id)),
        markdown_table(&["", ""], &rows).as_bytes(),
    )?;
    // The test loss by name, for the prose (`basic_test_loss`, …): per image with 2 decimals,
    // per pixel with 4, and then also per image (× 784), for the solutions' comparison of units.
    let per_pixel = last.test.loss < 1.0;
    let mut results = Results::new(preset.id);
    results.number(
        &format!("{}_test_loss", preset.id),
        last.test.loss,
        if per_pixel { 4 } else { 2 },
    );
    if per_pixel {
        results.number(
            &format!("{}_test_loss_per_image", preset.id),
            last.test.loss * PIXELS as f64,
            1,
        );
    }
    results.write(&out)?;
    if preset.name == PresetName::Basic {
        export_basic(
            &mut trained.model,
            dev,
            data,
            &out,
            &command(args, preset.id, args.init),
        )?;
    }
    Ok(trained.history)
}

/// Writes the weights Chapter 3's drawing widget runs (`basic.safetensors`, half precision, with
/// one test image of each digit for its "test digit" button), golden inputs and outputs of the
/// Rust model for the JavaScript tests (`basic-golden.safetensors`), and `basic-weights.md` (size
/// and the error of f16). Rounds `model`'s weights to f16 on the way.
fn export_basic<M: Autoencoder<D>, D: Device<f32>>(
    model: &mut M,
    dev: &D,
    data: &DataSplits,
    out: &Path,
    command: &str,
) -> anyhow::Result<()> {
    let loss = ReconstructionLoss::BcePerImage;
    let n = F16_CHECK_IMAGES.min(data.test.len());
    let golden_in = data.test.head(4).images;
    let golden32 = reconstruct(model, dev, &data.test, 4, loss);
    let all32 = reconstruct(model, dev, &data.test, n, loss);
    round_to_f16(model);
    let golden16 = reconstruct(model, dev, &data.test, 4, loss);
    let err = max_abs_diff(&all32, &reconstruct(model, dev, &data.test, n, loss));

    let mut file = SafeTensors::default();
    file.metadata(
        "holds",
        "Chapter 1's basic autoencoder 784-400-20-400-784 (model.0.* encoder, model.1.* decoder; \
         dfdx layer names, Linear weights (out, in), output logits); examples: the first test \
         image of each digit, 0-255",
    );
    file.metadata("command", command);
    file.add_module("model.", model, Dtype::F16);
    let examples: Vec<usize> = (0..10u8)
        .filter_map(|d| data.test.labels.iter().position(|&l| l == d))
        .collect();
    let pixels: Vec<f32> = data
        .test
        .select(&examples)
        .images
        .iter()
        .map(|p| p * 255.0)
        .collect();
    file.add("examples", &[examples.len(), PIXELS], &pixels, Dtype::U8);
    let bytes = file.write(&out.join("basic.safetensors"))?;

    let mut golden = SafeTensors::default();
    golden.metadata(
        "holds",
        "the first 4 test images (x) and the Rust model's pixel probabilities for them, with \
         f32 weights (y.f32) and with the weights rounded to f16 as in basic.safetensors (y.f16)",
    );
    golden.add("x", &[4, PIXELS], &golden_in, Dtype::F32);
    golden.add("y.f32", &[4, PIXELS], &golden32, Dtype::F32);
    golden.add("y.f16", &[4, PIXELS], &golden16, Dtype::F32);
    golden.write(&out.join("basic-golden.safetensors"))?;
    println!("basic.safetensors: {bytes} bytes; f16 rounding changes outputs by at most {err:.5}");
    let table = weights_table(
        "ch01/basic.safetensors",
        "Chapter 1's `basic` autoencoder, 784-400-20-400-784 · 第 1 章的 `basic` 自编码器",
        bytes,
        err,
        &format!("pixel probabilities, first {n} test images"),
    );
    ae_toolkit::atomic::write(&out.join("basic-weights.md"), table.as_bytes())
}

fn run_one<M, D>(
    dev: &D,
    args: &Args,
    data: &DataSplits,
    preset: &Preset,
    init: Init,
) -> anyhow::Result<(
    ch01_autoencoder::Trained<M::Built>,
    ae_toolkit::train::TrainConfig,
)>
where
    D: Device<f32>,
    M: BuildOnDevice<D, f32>,
    M::Built: Autoencoder<D>,
{
    let cfg = config(preset, args.run.seed, args.run.epochs.map(|e| e as usize));
    let name = format!("{}-{:?}", preset.id, init).to_lowercase();
    let run = args.run.run_options(CHAPTER, &name, &data.title());
    eprintln!(
        "training {name}: metrics and checkpoints in {}",
        run.run_dir.as_ref().unwrap().display()
    );
    Ok((train::<M, D>(dev, preset, init, data, &cfg, &run)?, cfg))
}

/// The test set's codes projected on their first two principal components, coloured by digit.
fn latent_scatter<M: Autoencoder<D>, D: Device<f32>>(
    model: &M,
    dev: &D,
    data: &DataSplits,
    path: &Path,
) -> anyhow::Result<()> {
    let codes = encode_all(model, dev, &data.test);
    let pca = Pca::fit(&codes, M::LATENT, 2);
    let points: Vec<(f64, f64)> = pca.project(&codes).iter().map(|p| (p[0], p[1])).collect();
    scatter_by_class(
        path,
        &format!("{}-D test codes, first two principal components", M::LATENT),
        ("PC 1", "PC 2"),
        &points,
        &data.test.labels,
        &data.kind.class_names(),
    )
}

fn init_comparison(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let preset = INIT_COMPARISON.preset();
    let mut series = Vec::new();
    let mut rows = Vec::new();
    let mut results = Results::new("init-comparison");
    for init in [Init::Default, Init::Glorot] {
        let h = args.run.on_device(InitRun { args, data, init })?;
        series.push(Series {
            name: format!("{init:?} init").to_lowercase(),
            points: h
                .epochs
                .iter()
                .skip(1)
                .map(|e| (e.epoch as f64, e.test.loss))
                .collect(),
        });
        let after_one = h.epochs.get(1).map_or(f64::NAN, |e| e.test.loss);
        // The final loss by name, for the prose (`init_default_final`, `init_glorot_final`).
        results.number(
            &format!("init_{}_final", format!("{init:?}").to_lowercase()),
            h.last().test.loss,
            4,
        );
        rows.push(vec![
            format!("{init:?}").to_lowercase(),
            format!("{:.5}", h.untrained_test_loss()),
            format!("{after_one:.5}"),
            format!("**{:.5}**", h.last().test.loss),
        ]);
        println!(
            "init {init:?}: test {} {:.5} after {} epochs",
            preset.loss.unit(),
            h.last().test.loss,
            h.last().epoch
        );
    }
    let out = args.run.out_dir(CHAPTER);
    line_chart(
        &out.join("init-comparison.svg"),
        &format!(
            "{} ({}) on {}: test loss by initialisation",
            preset.id,
            preset.widths,
            data.title()
        ),
        "epoch",
        preset.loss.unit(),
        &series,
    )?;
    let mut table = markdown_table(
        &[
            "init · 初始化",
            "untrained · 训练前",
            "after epoch 1 · 第 1 轮后",
            "final · 最终",
        ],
        &rows,
    );
    table.push_str(&format!(
        "\n{} ({}), {}; `{}`\n",
        preset.loss.unit(),
        data.title(),
        preset.widths,
        command(args, "init-comparison", None)
    ));
    ae_toolkit::atomic::write(&out.join("init-summary.md"), table.as_bytes())?;
    results.write(&out).map(drop)
}

fn row(key: &str, value: String) -> Vec<String> {
    vec![key.to_string(), value]
}

fn command(args: &Args, preset: &str, init: Option<Init>) -> String {
    let init = init.map(|i| format!("{i:?}").to_lowercase());
    let mut flags = vec!["--preset", preset];
    if let Some(i) = &init {
        flags.extend(["--init", i.as_str()]);
    }
    args.run.reproduce_command("ch01-autoencoder", &flags)
}
