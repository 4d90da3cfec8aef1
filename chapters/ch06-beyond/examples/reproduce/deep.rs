//! Part 2: Hinton & Salakhutdinov's deep autoencoder, in the paper's metric: trained plain, then
//! with the regulariser the flags choose (Gaussian noise on the inputs, decoupled weight decay),
//! on the same budget and on a longer one.

use super::*;

/// One training of the deep autoencoder: its run directory, the prefix of its result names, its
/// label in tables and figures, and the regularisers it trains with.
pub(super) struct Variant {
    pub(super) dir: String,
    pub(super) prefix: String,
    pub(super) label: String,
    pub(super) input_noise: f32,
    pub(super) weight_decay: f64,
    pub(super) epochs: u32,
    /// Weights to start from instead of the seeded initial ones (a warm restart).
    pub(super) start_from: Option<StartFrom>,
}

/// The end of an earlier run a warm restart continues from: its weights file and history.
pub(super) struct StartFrom {
    pub(super) weights: PathBuf,
    pub(super) history: History,
}

/// The plain run, then (if the flags ask for any regularisation) the regularised one on the same
/// budget and, if the flags give it one, again on a longer budget.
fn variants(args: &Args) -> Vec<Variant> {
    let mut runs = vec![Variant {
        dir: "deep".into(),
        prefix: String::new(),
        label: "deep AE".into(),
        input_noise: 0.0,
        weight_decay: 0.0,
        epochs: args.deep_epochs,
        start_from: None,
    }];
    let (sigma, lambda) = (args.deep_input_noise, args.deep_weight_decay);
    if sigma > 0.0 || lambda > 0.0 {
        let mut what = Vec::new();
        if sigma > 0.0 {
            what.push(format!("input noise σ = {sigma}"));
        }
        if lambda > 0.0 {
            what.push(format!("weight decay λ = {lambda}"));
        }
        let what = what.join(", ");
        runs.push(Variant {
            dir: "deep-regularised".into(),
            prefix: "reg_".into(),
            label: format!("deep AE, {what}"),
            input_noise: sigma,
            weight_decay: lambda,
            epochs: args.deep_epochs,
            start_from: None,
        });
        let long = args.deep_long_epochs;
        if long > 0 && long != args.deep_epochs {
            runs.push(Variant {
                dir: "deep-regularised-long".into(),
                prefix: "long_".into(),
                label: format!("deep AE, {what}, {long} epochs"),
                input_noise: sigma,
                weight_decay: lambda,
                epochs: long,
                start_from: None,
            });
        }
    }
    runs
}

/// Adam with the usual rate 10⁻³ at first, batches of 128, on the chosen schedule.
fn deep_config(args: &Args, variant: &Variant) -> TrainConfig {
    TrainConfig {
        schedule: args.deep_schedule,
        weight_decay: variant.weight_decay,
        ..args.run.train_config(variant.epochs as usize, 128)
    }
}

/// A trained variant: its history (a warm restart's after the run it continues), and its
/// reconstructions of the first test images.
pub(super) struct Trained {
    pub(super) variant: Variant,
    pub(super) cfg: TrainConfig,
    pub(super) history: History,
    pub(super) train_mse: f64,
    pub(super) reconstructions: Vec<f32>,
}

impl Trained {
    /// The epochs of the run this one restarted from (0 for a run from the initial weights).
    fn earlier_epochs(&self) -> usize {
        self.history.epochs.len() - 1 - self.cfg.epochs
    }

    /// The learning rate of `epoch` of the whole history: a warm restart repeats the schedule of
    /// the run it continues (same budget, same configuration) once per cycle.
    fn learning_rate_at(&self, epoch: usize) -> f64 {
        self.cfg
            .learning_rate_at((epoch.max(1) - 1) % self.cfg.epochs + 1)
    }
}

/// Test images shown in the reconstruction figure.
const SHOWN: usize = 10;

/// PCA with 30 components fitted to the training images, and its error on the test images: the
/// level every deep figure draws.
pub(super) fn pca30_baseline(data: &DataSplits) -> (Pca, f64) {
    let pca = Pca::fit(&data.train.images, PIXELS, 30);
    let pca30 = mean(&pca_squared_errors(&pca, &data.test, 30));
    (pca, pca30)
}

/// Trains each variant on a device of its own, seeded alike (each run starts from the same
/// weights, whichever runs first), then writes the figures, tables and values.
pub(super) fn deep(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let (pca, pca30) = pca30_baseline(data);
    println!("PCA-30: {pca30:.3} squared error per test image (paper: {PAPER_PCA_30})");
    let trained = (variants(args).into_iter())
        .map(|variant| train_variant(args, data, variant))
        .collect::<anyhow::Result<Vec<_>>>()?;
    deep_figures(data, &trained, &pca, pca30, &out, "deep")?;
    let summary = deep_summary(args, data, &trained, pca30, &deep_flags(args));
    ae_toolkit::atomic::write(&out.join("deep-summary.md"), summary.as_bytes())?;
    let mut values = Results::new("deep");
    values
        .number("deep_pca30", pca30, 2)
        .number("deep_pca30_exact", pca30, 3);
    for t in &trained {
        variant_values(&mut values, t);
    }
    values.write(&out)?;
    Ok(())
}

/// Trains `variant` of the deep autoencoder on `data` (on a device seeded alike, so that every
/// variant starts from the same weights).
pub(super) fn train_variant(
    args: &Args,
    data: &DataSplits,
    variant: Variant,
) -> anyhow::Result<Trained> {
    args.run.on_device(TrainVariant {
        args,
        data,
        variant,
    })
}

struct TrainVariant<'a> {
    args: &'a Args,
    data: &'a DataSplits,
    variant: Variant,
}

impl OnDevice for TrainVariant<'_> {
    type Output = Trained;
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<Trained> {
        let TrainVariant {
            args,
            data,
            variant,
        } = self;
        let cfg = deep_config(args, &variant);
        let mut model = Deep::build_on_device(&dev);
        // The input noise and the starting weights are not part of the training configuration:
        // the run's name carries them, so a checkpoint is never resumed with another σ or start.
        let mut description = format!("784-1000-500-250-30 AE on {}", data.title());
        if variant.input_noise > 0.0 {
            description += &format!(", input noise σ = {}", variant.input_noise);
        }
        if let Some(from) = &variant.start_from {
            load_weights(&mut model, &from.weights)?;
            description += &format!(
                ", warm restart after epoch {} of {}",
                from.history.last().epoch,
                from.weights.display()
            );
        }
        let run = RunOptions {
            run_dir: Some(args.run.run_dir(CHAPTER, &variant.dir)),
            ..args.run.run_options(CHAPTER, "deep", &description)
        };
        let mut history = train_bce_scored_by_squared_error(
            &mut model,
            &dev,
            data,
            &cfg,
            variant.input_noise,
            &run,
        )?;
        if let Some(from) = &variant.start_from {
            history = continued(&from.history, history);
        }
        // The generalisation gap at the end, in the paper's metric: the same squared error on
        // the training images the model learnt from.
        let train_mse = mean(&model_squared_errors(
            &model,
            &dev,
            &data.train,
            ReconstructionLoss::BcePerImage,
        ));
        println!(
            "{}: {:.3} squared error per image on the {} images it is scored on ({train_mse:.3} on \
             the {} it trained on) after {} epochs, {:.0} s of training (paper: {PAPER_DEEP_AE})",
            variant.label,
            history.last().test.loss,
            data.test.len(),
            data.train.len(),
            history.last().epoch,
            history.training_seconds()
        );
        let reconstructions = reconstruct(
            &model,
            &dev,
            &data.test,
            SHOWN,
            ReconstructionLoss::BcePerImage,
        );
        Ok(Trained {
            variant,
            cfg,
            history,
            train_mse,
            reconstructions,
        })
    }
}

/// `earlier` followed by the epochs of `restart`, a run that started from its last weights (the
/// restart's epoch 0, those weights evaluated again, is dropped; its epochs are numbered on).
fn continued(earlier: &History, restart: History) -> History {
    let offset = earlier.last().epoch;
    let mut epochs = earlier.epochs.clone();
    epochs.extend(restart.epochs.into_iter().skip(1).map(|mut e| {
        e.epoch += offset;
        e
    }));
    History { epochs }
}

/// Where a warm restart of the finished run `t` starts: the weights file it saved after its last
/// epoch in its run directory, and its history.
pub(super) fn final_weights(args: &Args, t: &Trained) -> anyhow::Result<StartFrom> {
    let epoch = t.history.last().epoch - t.earlier_epochs();
    let weights = (args.run.run_dir(CHAPTER, &t.variant.dir)).join(checkpoint_weights_name(epoch));
    if !weights.is_file() {
        bail!(
            "{} is missing: a warm restart starts from the weights the run `{}` saved after its \
             last epoch. Give the --runs-dir that run was trained with, or train it again",
            weights.display(),
            t.variant.label
        );
    }
    Ok(StartFrom {
        weights,
        history: t.history.clone(),
    })
}

/// Cumulative training minutes after each epoch, with that epoch's record.
fn by_minutes(h: &History) -> Vec<(f64, &EpochRecord)> {
    let mut elapsed = 0.0;
    (h.epochs.iter().skip(1))
        .map(|e| {
            elapsed += e.seconds;
            (elapsed / 60.0, e)
        })
        .collect()
}

/// `<stem>-curve.svg` (each variant's test error against training time, with PCA-30's and the
/// paper's levels) and `<stem>-reconstructions.png` (test images, each variant's, PCA-30's).
pub(super) fn deep_figures(
    data: &DataSplits,
    trained: &[Trained],
    pca: &Pca,
    pca30: f64,
    out: &Path,
    stem: &str,
) -> anyhow::Result<()> {
    // Error against cumulative training time (minutes), with the two reference levels.
    let mut series: Vec<Series> = trained
        .iter()
        .map(|t| Series {
            name: format!("{} (this book)", t.variant.label),
            points: (by_minutes(&t.history).into_iter())
                .map(|(m, e)| (m, e.test.loss))
                .collect(),
        })
        .collect();
    let end = (series.iter().flat_map(|s| s.points.last()))
        .map(|p| p.0)
        .fold(0.0, f64::max);
    let level = |name: &str, v: f64| Series {
        name: name.into(),
        points: vec![(0.0, v), (end, v)],
    };
    series.push(level("PCA-30 (this book)", pca30));
    series.push(level("deep AE (paper)", PAPER_DEEP_AE));
    line_chart(
        &out.join(format!("{stem}-curve.svg")),
        &format!("784-1000-500-250-30 autoencoder on {}", data.title()),
        "training time (minutes, 2 CPU cores)",
        "squared error per test image",
        &series,
    )?;

    // Rows: the test images, each variant's reconstructions, PCA-30's.
    let mut rows: Vec<Vec<&[f32]>> = vec![(0..SHOWN).map(|i| data.test.image(i)).collect()];
    rows.extend(
        trained
            .iter()
            .map(|t| t.reconstructions.chunks(PIXELS).collect()),
    );
    let pca_rec: Vec<f32> = pca
        .reconstruct(&data.test.head(SHOWN).images, 30)
        .iter()
        .map(|&v| v as f32)
        .collect();
    rows.push(pca_rec.chunks(PIXELS).collect());
    image_rows(
        &out.join(format!("{stem}-reconstructions.png")),
        &rows,
        (0.0, 1.0),
    )
}

/// The summary table (test and training error of each variant beside PCA-30 and the paper), the
/// configuration, the command that reproduces it (`flags`) and the curves every few epochs.
pub(super) fn deep_summary(
    args: &Args,
    data: &DataSplits,
    trained: &[Trained],
    pca30: f64,
    flags: &[String],
) -> String {
    let mut summary_rows = vec![vec![
        "PCA, 30 components · 30 个主成分".into(),
        format!("**{pca30:.2}**"),
        "".into(),
        format!("{PAPER_PCA_30:.2}"),
    ]];
    for t in trained {
        summary_rows.push(vec![
            format!("784-1000-500-250-30 {}", t.variant.label),
            format!("**{:.2}**", t.history.last().test.loss),
            format!("{:.2}", t.train_mse),
            format!("{PAPER_DEEP_AE:.2}"),
        ]);
    }
    let summary = markdown_table(
        &[
            "",
            "test images · 测试图像",
            "training images · 训练图像",
            "paper · 论文",
        ],
        &summary_rows,
    );

    // The curves as a table, every few epochs: test error, test BCE and mean training BCE (over
    // the epoch's batches, while the weights moved) of each variant, and its learning rate (the
    // runs may have different budgets, so different schedules); "—" past a run's last epoch.
    let epochs = (trained.iter())
        .map(|t| t.history.epochs.len() - 1)
        .max()
        .unwrap_or(0);
    let step = (epochs / 8).max(1);
    let mut header = vec!["epoch · 轮".to_string()];
    for t in trained {
        let who = if t.variant.prefix.is_empty() {
            String::new()
        } else {
            format!(" ({})", t.variant.label.trim_start_matches("deep AE, "))
        };
        header.push(format!("squared error · 平方误差{who}"));
        header.push(format!("test BCE · 测试 BCE{who}"));
        header.push(format!("training BCE · 训练 BCE{who}"));
        header.push(format!("learning rate · 学习率{who}"));
    }
    let mut rows = Vec::new();
    let ends: Vec<usize> = (trained.iter())
        .map(|t| t.history.epochs.len() - 1)
        .collect();
    for epoch in 1..=epochs {
        if epoch % step != 0 && !ends.contains(&epoch) && epoch != 1 {
            continue;
        }
        let mut row = vec![epoch.to_string()];
        for t in trained {
            match t.history.epochs.get(epoch) {
                Some(e) => {
                    let bce = e.test.parts.iter().find(|(n, _)| n == "bce").map(|p| p.1);
                    row.push(format!("{:.2}", e.test.loss));
                    row.push(format!("{:.2}", bce.unwrap_or(f64::NAN)));
                    row.push(format!("{:.2}", e.train_loss.unwrap_or(f64::NAN)));
                    row.push(format!("{:.1e}", t.learning_rate_at(epoch)));
                }
                None => row.extend(std::iter::repeat_n("—".to_string(), 4)),
            }
        }
        rows.push(row);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let table = markdown_table(&header, &rows);

    let times: Vec<String> = (trained.iter())
        .map(|t| format!("{} {}", t.variant.label, args.run.timing(&t.history)))
        .collect();
    let budgets: Vec<String> = (trained.iter())
        .map(|t| format!("{} {}", t.variant.label, t.history.last().epoch))
        .collect();
    let cfg = &trained[0].cfg;
    format!(
        "{summary}\nSquared error per image (sum over 784 pixels, mean over the {} test or {} \
         training images) · 每张图像的平方误差（784 个像素求和，对 {} 张测试图像或 {} 张训练图像取平均）。\n\n\
         {} · epochs · 轮数: {} · training time · 训练时间: {}.\n\nCommand · 命令: {}\n\n{table}",
        data.test.len(),
        data.train.len(),
        data.test.len(),
        data.train.len(),
        training_setup(args, data, cfg),
        budgets.join("; "),
        times.join("; "),
        command(args, flags)
    )
}

/// The data and how the deep runs train on it, for the notes under the tables.
pub(super) fn training_setup(args: &Args, data: &DataSplits, cfg: &TrainConfig) -> String {
    format!(
        "{} · Adam lr {} ({} schedule), batch {}, BCE loss, seed {}",
        data.title(),
        cfg.learning_rate,
        schedule_name(args),
        cfg.batch_size,
        cfg.seed
    )
}

/// The flags of `--experiment deep` as this run was given them.
fn deep_flags(args: &Args) -> Vec<String> {
    let mut flags = vec![
        "--experiment".to_string(),
        "deep".to_string(),
        "--deep-epochs".to_string(),
        args.deep_epochs.to_string(),
        "--deep-schedule".to_string(),
        schedule_name(args),
        "--deep-input-noise".to_string(),
        args.deep_input_noise.to_string(),
        "--deep-weight-decay".to_string(),
        args.deep_weight_decay.to_string(),
    ];
    flags.extend([
        "--deep-long-epochs".to_string(),
        args.deep_long_epochs.to_string(),
    ]);
    flags
}

/// The name of the deep runs' schedule, as its flag takes it.
pub(super) fn schedule_name(args: &Args) -> String {
    let value = (args.deep_schedule.to_possible_value()).expect("every schedule has a flag value");
    value.get_name().to_string()
}

/// One variant's numbers by name, for the prose, each name starting with the variant's prefix
/// (`reg_`, `long_`, …).
pub(super) fn variant_values(values: &mut Results, t: &Trained) {
    let (p, h) = (&t.variant.prefix, &t.history);
    values
        .number(&format!("{p}deep_mse"), h.last().test.loss, 2)
        .number(&format!("{p}deep_train_mse"), t.train_mse, 2)
        .number(&format!("{p}deep_gap"), h.last().test.loss - t.train_mse, 2)
        .count(&format!("{p}deep_epochs"), h.last().epoch)
        .with_unit(
            &format!("{p}deep_minutes"),
            h.training_seconds() / 60.0,
            0,
            "min",
        );
    // The curve after every epoch (`mse_epoch_<n>`), the BCE on the test set and the mean
    // training BCE of each epoch.
    for e in h.epochs.iter().skip(1) {
        values.number(&format!("{p}mse_epoch_{}", e.epoch), e.test.loss, 2);
        if let Some((_, bce)) = e.test.parts.iter().find(|(n, _)| n == "bce") {
            values.number(&format!("{p}bce_test_epoch_{}", e.epoch), *bce, 2);
        }
        if let Some(train) = e.train_loss {
            values.number(&format!("{p}bce_train_epoch_{}", e.epoch), train, 2);
        }
    }
    let best = (h.epochs.iter().skip(1)).min_by(|a, b| a.test.loss.total_cmp(&b.test.loss));
    if let Some(best) = best {
        values
            .number(&format!("{p}deep_best_mse"), best.test.loss, 2)
            .count(&format!("{p}deep_best_epoch"), best.epoch);
    }
    // Where the curve first reaches the paper's level, if it does: the epoch and the training
    // minutes up to it.
    let at_paper = by_minutes(h)
        .into_iter()
        .find(|(_, e)| e.test.loss <= PAPER_DEEP_AE);
    if let Some((minutes, e)) = at_paper {
        values
            .count(&format!("{p}deep_epoch_at_paper"), e.epoch)
            .with_unit(&format!("{p}deep_minutes_at_paper"), minutes, 0, "min");
    }
}
