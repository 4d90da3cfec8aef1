//! The PyTorch column: each of the chapter's three models — the convolutional autoencoder, the
//! convolutional VAE and the convolutional denoiser — has a twin in `perf/pytorch/train_step.py`,
//! trained here with the Rust model's configuration (the same data, epochs, batch size, Adam
//! settings and objective; its own initial weights, shuffles and noise), so that the chapter can
//! show both final test losses side by side. The Rust values are those the `conv`, `vae` and
//! `denoising` experiments wrote into the same output directory's `results.json`.

mod twin;

use std::collections::BTreeMap;

use ae_toolkit::data::{DataSource, DataSplits, PIXELS};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::paths::workspace_root;
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::{self, Results};
use anyhow::Context;
use ch07_convolutional::denoising::ConvDenoiser;
use ch07_convolutional::vae::ConvVae;
use ch07_convolutional::ConvAutoencoder;

use super::*;
pub(super) use twin::NoTorch;
use twin::{Expected, TwinRun, SCRIPT};

/// One of the chapter's models, its twin, and where the Rust model's numbers are.
struct Comparison {
    expected: Expected,
    /// The PyTorch values are `pytorch_{key}_…`.
    key: &'static str,
    /// The table's first cell.
    name: &'static str,
    /// What the test loss is, for the table.
    loss: &'static str,
    /// The test loss's name after `pytorch_{key}_`.
    loss_key: &'static str,
    decimals: usize,
    /// The Rust model's values in `results.json`: test loss, training seconds, epochs.
    rust_loss: &'static str,
    rust_seconds: &'static str,
    rust_epochs: &'static str,
    /// The test loss's parts: the twin's name, the Rust value's name.
    parts: &'static [(&'static str, &'static str)],
    /// The experiment that writes the Rust values.
    rust_experiment: &'static str,
}

/// The chapter's three models with their Rust configurations, as the experiments that train them
/// set them.
fn comparisons(args: &Args) -> Vec<Comparison> {
    let weights = |tensors: Vec<(String, Vec<usize>, Vec<f32>)>| {
        tensors
            .into_iter()
            .map(|(name, shape, _)| (name, shape))
            .collect()
    };
    let dev = Cpu::default();
    let conv = ConvAutoencoder::build_on_device(&dev);
    let vae = ConvVae::<{ ch05_vae::LATENT }>::build_on_device(&dev);
    let denoiser = ConvDenoiser::build_on_device(&dev);
    let denoising_epochs = args.run.epochs_or(args.denoising_epochs as usize);
    vec![
        Comparison {
            expected: Expected {
                id: "ch07-conv",
                cfg: cfg(args, args.conv_epochs),
                weights: weights(ae_toolkit::export::module_tensors(&conv)),
                symmetric_range: false,
                settings: vec![],
            },
            key: "conv",
            name: "convolutional AE · 卷积自编码器",
            loss: "BCE per image · 每幅图像的 BCE",
            loss_key: "test_bce",
            decimals: 2,
            rust_loss: "conv_test_bce",
            rust_seconds: "conv_training_seconds",
            rust_epochs: "epochs",
            parts: &[],
            rust_experiment: "conv",
        },
        Comparison {
            expected: Expected {
                id: "ch07-vae",
                cfg: cfg(args, args.vae_epochs),
                weights: weights(ae_toolkit::export::module_tensors(&vae)),
                symmetric_range: false,
                // vae.rs trains with β = 1; the test −ELBO always has β = 1.
                settings: vec![("latent", ch05_vae::LATENT as f64), ("beta", 1.0)],
            },
            key: "vae",
            name: "convolutional VAE, 20-D · 卷积 VAE（20 维）",
            loss: "−ELBO per image (reconstruction + KL) · 每幅图像的负证据下界（重构 + KL）",
            loss_key: "nelbo",
            decimals: 2,
            rust_loss: "cvae_20d_nelbo",
            rust_seconds: "cvae_20d_training_seconds",
            rust_epochs: "vae_epochs",
            parts: &[
                ("reconstruction", "cvae_20d_reconstruction"),
                ("kl", "cvae_20d_kl"),
            ],
            rust_experiment: "vae",
        },
        Comparison {
            expected: Expected {
                id: "ch07-denoising",
                cfg: ch03_denoising::training_config(denoising_epochs, args.run.seed),
                weights: weights(ae_toolkit::export::module_tensors(&denoiser)),
                symmetric_range: true,
                settings: vec![("noise_sigma", ch03_denoising::SIGMA as f64)],
            },
            key: "denoising",
            name: "convolutional denoiser · 卷积去噪自编码器",
            loss: "MSE per pixel, σ = 0.5 · 每像素 MSE",
            loss_key: "test_mse",
            decimals: 4,
            rust_loss: "denoising_conv_test_mse",
            rust_seconds: "denoising_conv_training_seconds",
            rust_epochs: "denoising_epochs",
            parts: &[],
            rust_experiment: "denoising",
        },
    ]
}

pub(super) fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    // The twins read the same IDX files the Rust side loaded: the full set, or the embedded
    // subset's own files.
    let data_dir = match &data.source {
        DataSource::Full(_) => args.run.data_dir().path,
        DataSource::Embedded => workspace_root().join("chapters/ae-toolkit/data"),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run_dir = args.run.run_dir(CHAPTER, "pytorch");
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let comparisons = comparisons(args);
    let mut twins = Vec::new();
    for c in &comparisons {
        let twin = twin::train(&c.expected, data, &data_dir, threads)?;
        let record = serde_json::to_string_pretty(&twin.record(c.expected.id))?;
        let file = run_dir.join(format!("{}.json", c.expected.id));
        ae_toolkit::atomic::write(&file, record.as_bytes())?;
        println!(
            "PyTorch {} twin of the {}: {:.dec$} after {} epoch(s) ({:.1} s, {} threads)",
            twin.torch,
            c.name,
            twin.final_loss(),
            twin.epochs,
            twin.training_seconds,
            twin.threads,
            dec = c.decimals
        );
        twins.push(twin);
    }

    let out = args.run.out_dir(CHAPTER);
    // The Rust values, written by the other experiments; none yet is no error (the rows say so).
    let rust = if out.join(results::FILE_NAME).exists() {
        results::read(&out)?
    } else {
        BTreeMap::new()
    };
    let mut values = Results::new("pytorch");
    let mut rows = Vec::new();
    for (c, twin) in comparisons.iter().zip(&twins) {
        rows.push(row(c, twin, &rust, &mut values));
    }
    let conv = &twins[0];
    values
        .number(
            "pytorch_conv_test_bce_per_pixel",
            conv.final_loss() / PIXELS as f64,
            4,
        )
        // The conv AE's epochs, as before the other twins joined.
        .count("pytorch_epochs", conv.epochs)
        .count("pytorch_threads", conv.threads);
    let table = format!(
        "{}\n{}\n",
        markdown_table(
            &[
                "model · 模型",
                "test loss · 测试损失",
                "Rust (this book) · 本书",
                &format!("PyTorch {}", conv.torch),
                "Rust vs PyTorch · 差异",
                "training, Rust / PyTorch · 训练时间",
            ],
            &rows,
        ),
        note(args, data, &comparisons, &twins),
    );
    ae_toolkit::atomic::write(&out.join("pytorch.md"), table.as_bytes())?;
    values.write(&out)?;
    Ok(())
}

/// The table's row of one model, and its PyTorch values.
fn row(
    c: &Comparison,
    twin: &TwinRun,
    rust: &BTreeMap<String, results::Value>,
    values: &mut Results,
) -> Vec<String> {
    let (k, dec) = (c.key, c.decimals);
    let torch = twin.final_loss();
    let per_epoch = twin.training_seconds / twin.epochs as f64;
    values
        .number(&format!("pytorch_{k}_{}", c.loss_key), torch, dec)
        .with_unit(
            &format!("pytorch_{k}_training_seconds"),
            twin.training_seconds,
            0,
            "s",
        )
        .with_unit(&format!("pytorch_{k}_epoch_seconds"), per_epoch, 1, "s")
        .count(&format!("pytorch_{k}_epochs"), twin.epochs);
    for (part, value) in twin.final_parts() {
        values.number(&format!("pytorch_{k}_{part}"), value, dec);
    }
    // "76.39 + 25.94": the parts, in the order the comparison lists them.
    let parts = |value: &dyn Fn(&str, &str) -> Option<f64>| -> String {
        let shown: Option<Vec<String>> = c
            .parts
            .iter()
            .map(|(twin_name, rust_name)| Some(format!("{:.dec$}", value(twin_name, rust_name)?)))
            .collect();
        match shown {
            Some(shown) if !shown.is_empty() => format!(" ({})", shown.join(" + ")),
            _ => String::new(),
        }
    };
    let torch_parts = parts(&|name, _| twin.final_parts().find(|(n, _)| *n == name).map(|p| p.1));
    let torch_cell = format!("{torch:.dec$}{torch_parts}");
    let torch_time = format!(
        "{:.0} s ({per_epoch:.1} s per epoch)",
        twin.training_seconds
    );

    let rerun = format!("`--experiment {}`", c.rust_experiment);
    let rust_epochs = rust.get(c.rust_epochs).map(|v| v.value as usize);
    let (rust_cell, difference, rust_time) = match rust.get(c.rust_loss) {
        None => (
            format!("not measured yet: {rerun}"),
            "–".to_string(),
            "–".to_string(),
        ),
        // A loss after other epochs than the twin's compares nothing.
        Some(_) if rust_epochs != Some(twin.epochs) => (
            format!(
                "measured after {} epoch(s), not {}: {rerun}",
                rust_epochs.map_or("?".into(), |e| e.to_string()),
                twin.epochs
            ),
            "–".to_string(),
            "–".to_string(),
        ),
        Some(loss) => {
            // Positive when the Rust model's loss is higher (worse) than PyTorch's.
            let percent = 100.0 * (loss.value / torch - 1.0);
            values.with_unit(&format!("pytorch_{k}_rust_vs_pytorch"), percent, 2, "%");
            let rust_parts = parts(&|_, name| rust.get(name).map(|v| v.value));
            (
                format!("{:.dec$}{rust_parts}", loss.value),
                format!("{percent:+.2} %"),
                rust.get(c.rust_seconds)
                    .map_or("?".into(), |v| v.text.clone()),
            )
        }
    };
    vec![
        c.name.to_string(),
        c.loss.to_string(),
        rust_cell,
        torch_cell,
        difference,
        format!("{rust_time} / {torch_time}"),
    ]
}

/// What is compared, how the twins trained, and how to reproduce it.
fn note(args: &Args, data: &DataSplits, comparisons: &[Comparison], twins: &[TwinRun]) -> String {
    let trained: Vec<String> = comparisons
        .iter()
        .zip(twins)
        .map(|(c, t)| {
            format!(
                "`{}` {} epoch(s), betas {:?}",
                c.expected.id, t.epochs, c.expected.cfg.betas
            )
        })
        .collect();
    let cfg = &comparisons[0].expected.cfg;
    let mut flags = vec!["--experiment".to_string(), "pytorch".to_string()];
    for (flag, value, default) in [
        ("--conv-epochs", args.conv_epochs, CONV_EPOCHS),
        ("--vae-epochs", args.vae_epochs, VAE_EPOCHS),
        (
            "--denoising-epochs",
            args.denoising_epochs,
            ch03_denoising::EPOCHS as u32,
        ),
    ] {
        if value != default {
            flags.extend([flag.to_string(), value.to_string()]);
        }
    }
    format!(
        "Final test losses on {}: the Rust models' from their experiments (`conv`, `vae`, \
         `denoising`, in this directory's results), their PyTorch twins' (`{SCRIPT}`: the same \
         layers, checked by name and shape) trained with the same configuration and objective — \
         {}; Adam with learning rate {}, batches of {} — with their own initial weights, \
         shuffles and noise, seeded with {}. Rust vs PyTorch: (Rust − PyTorch) / PyTorch, \
         positive when the Rust model's loss is higher. The VAE's test −ELBO decodes one sample \
         per test image and the denoiser's MSE scores one noisy copy of each, both drawn once \
         for all epochs, on each side its own draw. Training time: the shuffles, batches and \
         steps, not the test evaluations; PyTorch with {} threads. {}",
        data.title(),
        trained.join(", "),
        cfg.learning_rate,
        cfg.batch_size,
        cfg.seed,
        twins[0].threads,
        command(args, &flags),
    )
}
