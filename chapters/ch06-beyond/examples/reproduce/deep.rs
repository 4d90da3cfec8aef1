//! Part 2: Hinton & Salakhutdinov's deep autoencoder, in the paper's metric.

use super::*;

/// Adam with the usual rate 10⁻³ at first, batches of 128, on the chosen schedule.
fn deep_config(args: &Args) -> TrainConfig {
    TrainConfig {
        schedule: args.deep_schedule,
        ..args.run.train_config(args.deep_epochs as usize, 128)
    }
}

pub(super) struct DeepRun<'a> {
    pub(super) args: &'a Args,
    pub(super) data: &'a DataSplits,
}

impl OnDevice for DeepRun<'_> {
    type Output = ();
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<()> {
        let DeepRun { args, data } = self;
        let out = args.run.out_dir(CHAPTER);
        let pca = Pca::fit(&data.train.images, PIXELS, 30);
        let pca30 = mean(&pca_squared_errors(&pca, &data.test, 30));
        println!("PCA-30: {pca30:.3} squared error per test image (paper: {PAPER_PCA_30})");

        let cfg = deep_config(args);
        let mut model = Deep::build_on_device(&dev);
        let h = train_bce_scored_by_squared_error(
            &mut model,
            &dev,
            data,
            &cfg,
            &args.run.run_options(
                CHAPTER,
                "deep",
                &format!("784-1000-500-250-30 AE on {}", data.title()),
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
        &format!("784-1000-500-250-30 autoencoder on {}", data.title()),
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
    let deep_rec = reconstruct(model, dev, &data.test, n, ReconstructionLoss::BcePerImage);
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
    let cfg = deep_config(args);
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
                format!("{:.2}", e.train_loss.unwrap_or(f64::NAN)),
                format!("{:.1e}", cfg.learning_rate_at(e.epoch)),
            ]);
        }
    }
    let table = markdown_table(
        &[
            "epoch · 轮",
            "minutes · 分钟",
            "squared error · 平方误差",
            "test BCE · 测试 BCE",
            "training BCE · 训练 BCE",
            "learning rate · 学习率",
        ],
        &rows,
    );
    let schedule = cfg
        .schedule
        .to_possible_value()
        .expect("every schedule has a flag value");
    let schedule = schedule.get_name();
    let flags = vec![
        "--experiment".to_string(),
        "deep".to_string(),
        "--deep-epochs".to_string(),
        args.deep_epochs.to_string(),
        "--deep-schedule".to_string(),
        schedule.to_string(),
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
         {} · Adam lr {} ({schedule} schedule), batch {}, {} epochs, BCE loss, seed {} · training time · 训练时间 {}.\n\n\
         Command · 命令: {}\n\n{table}",
        data.test.len(),
        data.test.len(),
        data.title(),
        cfg.learning_rate,
        cfg.batch_size,
        cfg.epochs,
        cfg.seed,
        args.run.timing(h),
        command(args, &flags)
    );
    ae_toolkit::atomic::write(&out.join("deep-summary.md"), text.as_bytes())?;

    // The same numbers by name, for the prose: the end point, the curve after every epoch
    // (`mse_epoch_<n>`), the BCE on the test set and the mean training BCE of each epoch (taken
    // over its batches while the weights moved) to show the gap between them, and the lowest
    // point of the curve.
    let mut values = Results::new("deep");
    values
        .number("deep_pca30", pca30, 2)
        .number("deep_pca30_exact", pca30, 3)
        .number("deep_mse", h.last().test.loss, 2)
        .count("deep_epochs", h.last().epoch)
        .with_unit("deep_minutes", h.training_seconds() / 60.0, 0, "min");
    for e in h.epochs.iter().skip(1) {
        values.number(&format!("mse_epoch_{}", e.epoch), e.test.loss, 2);
        if let Some((_, bce)) = e.test.parts.iter().find(|(n, _)| n == "bce") {
            values.number(&format!("bce_test_epoch_{}", e.epoch), *bce, 2);
        }
        if let Some(train) = e.train_loss {
            values.number(&format!("bce_train_epoch_{}", e.epoch), train, 2);
        }
    }
    if let Some(best) = (h.epochs.iter().skip(1)).min_by(|a, b| a.test.loss.total_cmp(&b.test.loss))
    {
        values
            .number("deep_best_mse", best.test.loss, 2)
            .count("deep_best_epoch", best.epoch);
    }
    // Where the curve first reaches the paper's level, if it does: the epoch and the training
    // minutes up to it.
    let mut elapsed = 0.0;
    for e in h.epochs.iter().skip(1) {
        elapsed += e.seconds;
        if e.test.loss <= PAPER_DEEP_AE {
            values.count("deep_epoch_at_paper", e.epoch).with_unit(
                "deep_minutes_at_paper",
                elapsed / 60.0,
                0,
                "min",
            );
            break;
        }
    }
    values.write(out)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. Anomaly detection
