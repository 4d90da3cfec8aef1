//! Part 2, continued: the noise level σ chosen the strict way, on training images held out from
//! training, and the deep autoencoder trained with that σ on the long budget.

use super::deep::{
    deep_figures, deep_summary, schedule_name, train_variant, variant_values, Trained, Variant,
};
use super::*;

/// The share of the training images held out for validation: the last sixth, 10,000 of MNIST's
/// 60,000, as many as the test set.
const HELD_OUT_SHARE: usize = 6;

/// `0.3` → `0_3`, for result names.
fn sigma_name(sigma: f32) -> String {
    sigma.to_string().replace('.', "_")
}

/// Trains the deep autoencoder with each σ of `--validation-noise` on five sixths of the training
/// images and scores it on the last sixth; returns the σ with the lowest error at the end.
pub(super) fn choose_noise_level(args: &Args, data: &DataSplits) -> anyhow::Result<f32> {
    if args.validation_noise.is_empty() {
        bail!("--validation-noise is empty: give at least one σ, such as 0.1,0.2,0.3");
    }
    let out = args.run.out_dir(CHAPTER);
    let splits = data.hold_out(data.train.len() / HELD_OUT_SHARE)?;
    let trained = (args.validation_noise.iter())
        .map(|&sigma| {
            let variant = Variant {
                dir: format!("deep-validation-sigma-{sigma}"),
                prefix: format!("val_sigma_{}_", sigma_name(sigma)),
                label: format!("input noise σ = {sigma}"),
                input_noise: sigma,
                weight_decay: 0.0,
                epochs: args.validation_epochs,
            };
            train_variant(args, &splits, variant)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let best = (trained.iter())
        .min_by(|a, b| final_error(a).total_cmp(&final_error(b)))
        .expect("at least one σ");
    let sigma = best.variant.input_noise;
    println!(
        "validation: σ = {sigma} has the lowest error on the {} held-out images ({:.3})",
        splits.test.len(),
        final_error(best)
    );

    line_chart(
        &out.join("deep-validation.svg"),
        &format!(
            "784-1000-500-250-30 autoencoder: {} training images, {} held out",
            splits.train.len(),
            splits.test.len()
        ),
        "epoch",
        "squared error per held-out image",
        &(trained.iter())
            .map(|t| Series {
                name: t.variant.label.clone(),
                points: (t.history.epochs.iter().skip(1))
                    .map(|e| (e.epoch as f64, e.test.loss))
                    .collect(),
            })
            .collect::<Vec<_>>(),
    )?;
    let rows: Vec<Vec<String>> = (trained.iter())
        .map(|t| {
            let mark = |s: String| {
                if t.variant.input_noise == sigma {
                    format!("**{s}**")
                } else {
                    s
                }
            };
            vec![
                mark(t.variant.input_noise.to_string()),
                mark(format!("{:.2}", final_error(t))),
                format!("{:.2}", t.train_mse),
                format!("{:.2}", final_error(t) - t.train_mse),
            ]
        })
        .collect();
    let table = markdown_table(
        &[
            "σ",
            "held-out images · 留出图像",
            "training images · 训练图像",
            "gap · 差距",
        ],
        &rows,
    );
    let noise: Vec<String> = args.validation_noise.iter().map(f32::to_string).collect();
    let flags = [
        "--experiment".to_string(),
        "deep-validation".into(),
        "--validation-noise".into(),
        noise.join(","),
        "--validation-epochs".into(),
        args.validation_epochs.to_string(),
        "--deep-schedule".into(),
        schedule_name(args),
    ];
    let cfg = &trained[0].cfg;
    let text =
        format!(
        "{table}\nSquared error per image after the last epoch, on the last {} of the {} training \
         images (held out) and on the first {} (trained on) · 最后一轮之后每张图像的平方误差：\
         在 {} 张训练图像中最后 {} 张（留出）和前 {} 张（用于训练）上。\n\n{} · Adam lr {} ({} \
         schedule), batch {}, BCE loss, seed {}, {} epochs · 轮 · training time · 训练时间: {}.\n\n\
         Command · 命令: {}\n",
        splits.test.len(),
        data.train.len(),
        splits.train.len(),
        data.train.len(),
        splits.test.len(),
        splits.train.len(),
        data.title(),
        cfg.learning_rate,
        schedule_name(args),
        cfg.batch_size,
        cfg.seed,
        cfg.epochs,
        (trained.iter())
            .map(|t| format!("σ = {} {}", t.variant.input_noise, args.run.timing(&t.history)))
            .collect::<Vec<_>>()
            .join("; "),
        command(args, &flags)
    );
    ae_toolkit::atomic::write(&out.join("deep-validation.md"), text.as_bytes())?;

    let mut values = Results::new("deep-validation");
    values
        .text("val_best_sigma", sigma as f64, sigma.to_string())
        .number("val_best_mse", final_error(best), 2)
        .count("val_held_out", splits.test.len())
        .count("val_trained_on", splits.train.len())
        .count("val_epochs", cfg.epochs)
        .count("val_sigmas", trained.len());
    for t in &trained {
        let p = &t.variant.prefix;
        values
            .number(&format!("{p}mse"), final_error(t), 2)
            .number(&format!("{p}train_mse"), t.train_mse, 2)
            .number(&format!("{p}gap"), final_error(t) - t.train_mse, 2);
    }
    values.write(&out)?;
    Ok(sigma)
}

/// The error on the held-out images after the last epoch.
fn final_error(t: &Trained) -> f64 {
    t.history.last().test.loss
}

/// The σ the chosen run trains with: the one chosen in this invocation, else `--chosen-noise`,
/// else the one the validation experiment recorded in the chapter's results.
fn chosen_sigma(args: &Args, chosen_now: Option<f32>) -> anyhow::Result<f32> {
    if let Some(sigma) = chosen_now.or(args.chosen_noise) {
        return Ok(sigma);
    }
    let out = args.run.out_dir(CHAPTER);
    let recorded = ae_toolkit::results::read(&out)
        .ok()
        .and_then(|values| values.get("val_best_sigma").map(|v| v.value as f32));
    recorded.with_context(|| {
        format!(
            "no σ to train with: {} records no validation run (val_best_sigma). Run \
             `--experiment deep-validation` first, or give --chosen-noise σ",
            out.join(ae_toolkit::results::FILE_NAME).display()
        )
    })
}

/// Trains the deep autoencoder on all training images with the chosen σ for
/// `--deep-long-epochs`, and scores it on the test images.
pub(super) fn train_with_chosen_noise(
    args: &Args,
    data: &DataSplits,
    chosen_now: Option<f32>,
) -> anyhow::Result<()> {
    let sigma = chosen_sigma(args, chosen_now)?;
    let epochs = args.deep_long_epochs;
    if epochs == 0 {
        bail!("--deep-long-epochs 0: the chosen run needs a budget; give it one, such as 400");
    }
    let out = args.run.out_dir(CHAPTER);
    let pca = Pca::fit(&data.train.images, PIXELS, 30);
    let pca30 = mean(&pca_squared_errors(&pca, &data.test, 30));
    let variant = Variant {
        dir: "deep-chosen".into(),
        prefix: "chosen_".into(),
        label: format!(
            "deep AE, input noise σ = {sigma} (chosen on held-out images), {epochs} epochs"
        ),
        input_noise: sigma,
        weight_decay: 0.0,
        epochs,
    };
    let trained = [train_variant(args, data, variant)?];
    deep_figures(data, &trained, &pca, pca30, &out, "deep-chosen")?;
    let mut flags = vec![
        "--experiment".to_string(),
        "deep-chosen".into(),
        "--deep-long-epochs".into(),
        epochs.to_string(),
        "--deep-schedule".into(),
        schedule_name(args),
    ];
    if let Some(given) = args.chosen_noise.filter(|_| chosen_now.is_none()) {
        flags.extend(["--chosen-noise".into(), given.to_string()]);
    }
    let summary = deep_summary(args, data, &trained, pca30, &flags);
    ae_toolkit::atomic::write(&out.join("deep-chosen-summary.md"), summary.as_bytes())?;
    let mut values = Results::new("deep-chosen");
    values.text("chosen_sigma", sigma as f64, sigma.to_string());
    variant_values(&mut values, &trained[0]);
    values.write(&out)?;
    Ok(())
}
