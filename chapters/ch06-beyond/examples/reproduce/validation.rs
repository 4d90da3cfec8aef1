//! Part 2, continued: the regulariser (input noise σ, then weight decay λ) chosen the strict way,
//! on training images held out from training; the deep autoencoder trained with it on the long
//! budget; and that run continued by warm restarts, for as many cycles as the held-out images say
//! help.

use super::deep::{
    deep_figures, deep_summary, final_weights, pca30_baseline, schedule_name, train_variant,
    training_setup, variant_values, Trained, Variant,
};
use super::*;

/// The share of the training images held out for validation: the last sixth, 10,000 of MNIST's
/// 60,000, as many as the test set.
const HELD_OUT_SHARE: usize = 6;

/// `0.3` → `0_3`, for result names.
fn name_part(value: impl ToString) -> String {
    value.to_string().replace('.', "_")
}

/// A regulariser of the deep autoencoder: Gaussian noise σ on its inputs and decoupled weight
/// decay λ (either may be 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Regulariser {
    pub(super) input_noise: f32,
    pub(super) weight_decay: f64,
}

impl Regulariser {
    /// `σ = 0.1` or `σ = 0.1, λ = 0.1`.
    fn label(&self) -> String {
        let mut label = format!("σ = {}", self.input_noise);
        if self.weight_decay > 0.0 {
            label += &format!(", weight decay λ = {}", self.weight_decay);
        }
        label
    }

    /// `<prefix>sigma` and `<prefix>weight_decay`, for the prose.
    fn record(&self, values: &mut Results, prefix: &str) {
        let (sigma, lambda) = (self.input_noise, self.weight_decay);
        values
            .text(&format!("{prefix}sigma"), sigma as f64, sigma.to_string())
            .text(&format!("{prefix}weight_decay"), lambda, lambda.to_string());
    }

    /// One validation run with this regulariser. The runs without weight decay keep the
    /// directories and result names they had before λ joined the search, so `--resume` finds them.
    fn validation_variant(&self, epochs: u32) -> Variant {
        let (sigma, lambda) = (self.input_noise, self.weight_decay);
        let (mut dir, mut prefix) = (
            format!("deep-validation-sigma-{sigma}"),
            format!("val_sigma_{}_", name_part(sigma)),
        );
        if lambda > 0.0 {
            dir += &format!("-decay-{lambda}");
            prefix += &format!("decay_{}_", name_part(lambda));
        }
        Variant {
            dir,
            prefix,
            label: self.label(),
            input_noise: sigma,
            weight_decay: lambda,
            epochs,
            start_from: None,
        }
    }

    /// The run on all training images with this regulariser, chosen on the held-out ones.
    fn chosen_variant(&self, epochs: u32) -> Variant {
        let what = self.label().replace("σ =", "input noise σ =");
        Variant {
            dir: "deep-chosen".into(),
            prefix: "chosen_".into(),
            label: format!("deep AE, {what} (chosen on held-out images), {epochs} epochs"),
            input_noise: self.input_noise,
            weight_decay: self.weight_decay,
            epochs,
            start_from: None,
        }
    }
}

/// Cycle `cycle` of `first`'s schedule (2 for its first warm restart): the same budget once more,
/// from the weights `previous` (cycle `cycle - 1`) ended with.
fn warm_restart(
    args: &Args,
    first: &Variant,
    previous: &Trained,
    cycle: usize,
    prefix: &str,
) -> anyhow::Result<Variant> {
    let epochs = first.epochs;
    let label = first.label.trim_end_matches(&format!(", {epochs} epochs"));
    let budgets = vec![previous.cfg.epochs.to_string(); cycle].join(" + ");
    let restarts = if cycle > 2 {
        "warm restarts"
    } else {
        "warm restart"
    };
    Ok(Variant {
        // The first restart's directory keeps its name from before restarts were chained.
        dir: match cycle {
            2 => format!("{}-restart", first.dir),
            _ => format!("{}-restart-{}", first.dir, cycle - 1),
        },
        prefix: prefix.into(),
        label: format!("{label}, {restarts}: {budgets} epochs"),
        input_noise: first.input_noise,
        weight_decay: first.weight_decay,
        epochs,
        start_from: Some(final_weights(args, previous)?),
    })
}

/// After each cycle of `cycles` (the first run, then its restarts), under `<prefix>cycle_<k>_…`:
/// the error it is scored by, the training images' error, the gap between the two, how much the
/// cycle lowered the error (`gain`, from the second on), and the cycle's own training minutes.
fn record_cycles(values: &mut Results, cycles: &[Trained], prefix: &str) {
    let mut earlier: Option<&Trained> = None;
    for (k, t) in (1..).zip(cycles) {
        let done = earlier.map_or(0, |e| e.history.epochs.len());
        let seconds: f64 = (t.history.epochs.iter().skip(done))
            .map(|e| e.seconds)
            .sum();
        let name = |what: &str| format!("{prefix}cycle_{k}_{what}");
        values
            .number(&name("mse"), final_error(t), 2)
            .number(&name("train_mse"), t.train_mse, 2)
            .number(&name("gap"), final_error(t) - t.train_mse, 2)
            .with_unit(&name("minutes"), seconds / 60.0, 0, "min");
        if let Some(e) = earlier {
            values.number(&name("gain"), final_error(e) - final_error(t), 2);
        }
        earlier = Some(t);
    }
    values.count(&format!("{prefix}cycles"), cycles.len());
}

/// Chooses the deep autoencoder's regulariser on training images held out from training, one
/// coordinate at a time: first the σ of `--validation-noise` (without weight decay), then each λ of
/// `--validation-weight-decay` with that σ. Every candidate trains on five sixths of the training
/// images and is scored on the last sixth; the one with the lowest error at the end wins.
pub(super) fn choose_regulariser(args: &Args, data: &DataSplits) -> anyhow::Result<Regulariser> {
    if args.validation_noise.is_empty() {
        bail!("--validation-noise is empty: give at least one σ, such as 0.1,0.2,0.3");
    }
    let out = args.run.out_dir(CHAPTER);
    let splits = data.hold_out(data.train.len() / HELD_OUT_SHARE)?;
    let train = |regulariser: Regulariser| {
        let variant = regulariser.validation_variant(args.validation_epochs);
        train_variant(args, &splits, variant).map(|t| (regulariser, t))
    };
    let mut trained = (args.validation_noise.iter())
        .map(|&input_noise| {
            train(Regulariser {
                input_noise,
                weight_decay: 0.0,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let best_noise = best(&trained).0.input_noise;
    for &weight_decay in args.validation_weight_decay.iter().filter(|&&l| l > 0.0) {
        trained.push(train(Regulariser {
            input_noise: best_noise,
            weight_decay,
        })?);
    }
    let (chosen, best_run) = best(&trained);
    let chosen = *chosen;
    println!(
        "validation: {} has the lowest error on the {} held-out images ({:.3})",
        chosen.label(),
        splits.test.len(),
        final_error(best_run)
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
            .map(|(_, t)| Series {
                name: t.variant.label.clone(),
                points: (t.history.epochs.iter().skip(1))
                    .map(|e| (e.epoch as f64, e.test.loss))
                    .collect(),
            })
            .collect::<Vec<_>>(),
    )?;
    let rows: Vec<Vec<String>> = (trained.iter())
        .map(|(r, t)| {
            let mark = |s: String| if *r == chosen { format!("**{s}**") } else { s };
            vec![
                mark(r.input_noise.to_string()),
                mark(r.weight_decay.to_string()),
                mark(format!("{:.2}", final_error(t))),
                format!("{:.2}", t.train_mse),
                format!("{:.2}", final_error(t) - t.train_mse),
            ]
        })
        .collect();
    let table = markdown_table(
        &[
            "σ",
            "λ",
            "held-out images · 留出图像",
            "training images · 训练图像",
            "gap · 差距",
        ],
        &rows,
    );
    let list = |values: Vec<String>| values.join(",");
    let mut flags = vec![
        "--experiment".to_string(),
        "deep-validation".into(),
        "--validation-noise".into(),
        list(args.validation_noise.iter().map(f32::to_string).collect()),
        "--validation-weight-decay".into(),
        list(
            args.validation_weight_decay
                .iter()
                .map(f64::to_string)
                .collect(),
        ),
        "--validation-epochs".into(),
        args.validation_epochs.to_string(),
        "--deep-schedule".into(),
        schedule_name(args),
    ];
    if args.validation_weight_decay.is_empty() {
        flags.drain(4..6);
    }
    let cfg = &trained[0].1.cfg;
    let text =
        format!(
        "{table}\nSquared error per image after the last epoch, on the last {} of the {} training \
         images (held out) and on the first {} (trained on); σ: input noise, λ: decoupled weight \
         decay · 最后一轮之后每张图像的平方误差：在 {} 张训练图像中最后 {} 张（留出）和前 {} 张（用于训练）\
         上；σ：输入噪声，λ：解耦权重衰减。\n\n{}, {} epochs · 轮 · training time · 训练时间: {}.\n\n\
         Command · 命令: {}\n",
        splits.test.len(),
        data.train.len(),
        splits.train.len(),
        data.train.len(),
        splits.test.len(),
        splits.train.len(),
        training_setup(args, data, cfg),
        cfg.epochs,
        (trained.iter())
            .map(|(r, t)| format!("{} {}", r.label(), args.run.timing(&t.history)))
            .collect::<Vec<_>>()
            .join("; "),
        command(args, &flags)
    );
    ae_toolkit::atomic::write(&out.join("deep-validation.md"), text.as_bytes())?;

    let mut values = Results::new("deep-validation");
    chosen.record(&mut values, "val_best_");
    values
        .number("val_best_mse", final_error(best_run), 2)
        .count("val_held_out", splits.test.len())
        .count("val_trained_on", splits.train.len())
        .count("val_epochs", cfg.epochs)
        .count("val_candidates", trained.len());
    for (_, t) in &trained {
        let p = &t.variant.prefix;
        values
            .number(&format!("{p}mse"), final_error(t), 2)
            .number(&format!("{p}train_mse"), t.train_mse, 2)
            .number(&format!("{p}gap"), final_error(t) - t.train_mse, 2);
    }
    values.write(&out)?;
    Ok(chosen)
}

/// The candidate with the lowest error on the held-out images after the last epoch.
fn best(trained: &[(Regulariser, Trained)]) -> &(Regulariser, Trained) {
    (trained.iter())
        .min_by(|a, b| final_error(&a.1).total_cmp(&final_error(&b.1)))
        .expect("at least one candidate")
}

/// The error on the held-out images after the last epoch.
fn final_error(t: &Trained) -> f64 {
    t.history.last().test.loss
}

/// The regulariser the chosen run trains with: the one chosen in this invocation, else for each
/// coordinate its flag (`--chosen-noise`, `--chosen-weight-decay`), else the one the validation
/// experiment recorded in the chapter's results (no weight decay if it recorded none).
fn chosen_regulariser(args: &Args, chosen_now: Option<Regulariser>) -> anyhow::Result<Regulariser> {
    if let Some(chosen) = chosen_now {
        return Ok(chosen);
    }
    let out = args.run.out_dir(CHAPTER);
    let recorded = ae_toolkit::results::read(&out).ok();
    let recorded = |name: &str| recorded.as_ref().and_then(|v| v.get(name)).map(|v| v.value);
    let input_noise = (args.chosen_noise)
        .or_else(|| recorded("val_best_sigma").map(|v| v as f32))
        .with_context(|| {
            format!(
                "no σ to train with: {} records no validation run (val_best_sigma). Run \
                 `--experiment deep-validation` first, or give --chosen-noise σ",
                out.join(ae_toolkit::results::FILE_NAME).display()
            )
        })?;
    let weight_decay = (args.chosen_weight_decay)
        .or_else(|| recorded("val_best_weight_decay"))
        .unwrap_or(0.0);
    Ok(Regulariser {
        input_noise,
        weight_decay,
    })
}

/// `--deep-long-epochs`, the budget of the chosen run and of each cycle of its warm restart.
fn long_budget(args: &Args) -> anyhow::Result<u32> {
    match args.deep_long_epochs {
        0 => bail!("--deep-long-epochs 0: the chosen run needs a budget; give it one, such as 400"),
        epochs => Ok(epochs),
    }
}

/// Trains the deep autoencoder on all training images with the chosen regulariser for
/// `--deep-long-epochs`, and scores it on the test images.
pub(super) fn train_with_chosen_regulariser(
    args: &Args,
    data: &DataSplits,
    chosen_now: Option<Regulariser>,
) -> anyhow::Result<()> {
    let chosen = chosen_regulariser(args, chosen_now)?;
    let epochs = long_budget(args)?;
    let out = args.run.out_dir(CHAPTER);
    let (pca, pca30) = pca30_baseline(data);
    let trained = [train_variant(args, data, chosen.chosen_variant(epochs))?];
    deep_figures(data, &trained, &pca, pca30, &out, "deep-chosen")?;
    let mut flags = vec![
        "--experiment".to_string(),
        "deep-chosen".into(),
        "--deep-long-epochs".into(),
        epochs.to_string(),
        "--deep-schedule".into(),
        schedule_name(args),
    ];
    if chosen_now.is_none() {
        if let Some(given) = args.chosen_noise {
            flags.extend(["--chosen-noise".into(), given.to_string()]);
        }
        if let Some(given) = args.chosen_weight_decay {
            flags.extend(["--chosen-weight-decay".into(), given.to_string()]);
        }
    }
    let summary = deep_summary(args, data, &trained, pca30, &flags);
    ae_toolkit::atomic::write(&out.join("deep-chosen-summary.md"), summary.as_bytes())?;
    let mut values = Results::new("deep-chosen");
    chosen.record(&mut values, "chosen_");
    variant_values(&mut values, &trained[0]);
    values.write(&out)?;
    Ok(())
}

/// `first` followed by its warm restarts, up to `cycles` cycles in all; with `until_no_better`,
/// the chain ends at the first cycle that does not lower the error (that cycle included).
fn restart_cycles(
    args: &Args,
    data: &DataSplits,
    first: Trained,
    cycles: usize,
    prefix: &str,
    until_no_better: bool,
) -> anyhow::Result<Vec<Trained>> {
    let mut chain = vec![first];
    for cycle in 2..=cycles {
        let (first, last) = (&chain[0], &chain[cycle - 2]);
        let next = warm_restart(args, &first.variant, last, cycle, prefix)?;
        let next = train_variant(args, data, next)?;
        let better = final_error(&next) < final_error(last);
        println!(
            "{}: cycle {cycle} takes the error from {:.3} to {:.3}",
            next.variant.label,
            final_error(last),
            final_error(&next)
        );
        chain.push(next);
        if until_no_better && !better {
            break;
        }
    }
    Ok(chain)
}

/// Continues the chosen regulariser's runs by warm restarts, each a cosine cycle more from the
/// weights the last one ended with, up to `--cycles` in all: first the validation run, scored on
/// the held-out images, for as long as each cycle lowers their error; then the run on all training
/// images for as many cycles as helped there, scored on the test images once.
pub(super) fn train_with_warm_restart(
    args: &Args,
    data: &DataSplits,
    chosen_now: Option<Regulariser>,
) -> anyhow::Result<()> {
    let chosen = chosen_regulariser(args, chosen_now)?;
    let out = args.run.out_dir(CHAPTER);
    // The runs a restart continues are read back from their checkpoints when they have finished
    // (and trained first when they have not).
    let mut reading = args.clone();
    reading.run.resume = true;

    let splits = data.hold_out(data.train.len() / HELD_OUT_SHARE)?;
    let first = chosen.validation_variant(args.validation_epochs);
    let first = train_variant(&reading, &splits, first)?;
    let held_out = restart_cycles(
        args,
        &splits,
        first,
        args.cycles as usize,
        "val_restart_",
        true,
    )?;
    let mut values = Results::new("deep-restart");
    record_cycles(&mut values, &held_out, "val_");
    // The cycles that lowered the held-out error, counted with the first.
    let helpful = 1
        + (held_out.windows(2))
            .take_while(|w| final_error(&w[1]) < final_error(&w[0]))
            .count();
    values.count("cycles_chosen", helpful);
    if helpful == 1 {
        println!(
            "validation: no warm restart (of up to {} cycles in all, --cycles) lowered the error \
             on the held-out images; the run on all training images is not restarted",
            args.cycles
        );
        values.write(&out)?;
        return Ok(());
    }

    let epochs = long_budget(args)?;
    let first = train_variant(&reading, data, chosen.chosen_variant(epochs))?;
    let mut cycles = restart_cycles(args, data, first, helpful, "restart_", false)?;
    record_cycles(&mut values, &cycles, "");
    let trained = [cycles.pop().expect("at least two cycles")];
    let (pca, pca30) = pca30_baseline(data);
    deep_figures(data, &trained, &pca, pca30, &out, "deep-restart")?;
    let flags = [
        "--experiment".to_string(),
        "deep-restart".into(),
        "--cycles".into(),
        args.cycles.to_string(),
        "--deep-long-epochs".into(),
        epochs.to_string(),
        "--validation-epochs".into(),
        args.validation_epochs.to_string(),
        "--deep-schedule".into(),
        schedule_name(args),
    ];
    let summary = deep_summary(args, data, &trained, pca30, &flags);
    ae_toolkit::atomic::write(&out.join("deep-restart-summary.md"), summary.as_bytes())?;
    variant_values(&mut values, &trained[0]);
    values.write(&out)?;
    Ok(())
}
