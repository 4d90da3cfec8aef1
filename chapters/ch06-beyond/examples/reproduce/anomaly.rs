//! Part 3: anomaly detection by reconstruction error, one held-out digit at a time.

use super::*;

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
        let cfg = args.run.train_config(10, 128);
        let mut ae = NonlinearAe::<ANOMALY_K>::build_on_device(&dev);
        train_reconstruction(
            &mut ae,
            &dev,
            split,
            ReconstructionLoss::BcePerImage,
            &cfg,
            &args.run.run_options(
                CHAPTER,
                &format!("anomaly-ae-{digit}"),
                &format!("784-400-20 AE without digit {digit} on {}", split.title()),
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
                &format!("VAE without digit {digit} on {}", split.title()),
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

pub(super) fn anomaly(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let test = &data.test;
    let mut rows = Vec::new();
    let mut aucs = Vec::new();
    let mut most = Vec::new();
    let mut least = Vec::new();
    for digit in 0..10u8 {
        let split = without_digit(data, digit);
        let r = args.run.on_device(AnomalyRun {
            args,
            split: &split,
            digit,
        })?;
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
    let cfg = args.run.train_config(10, 128);
    let note = format!(
        "\nROC-AUC of each score for \"this test image is the held-out digit\" on all {} test \
         images of {} · 各分数在全部 {} 张测试图像上区分“留出的数字”的 ROC-AUC。\
         AE: 784-400-20-400-784; VAE: Chapter 5's, 20-D, −ELBO averaged over {ELBO_SAMPLES} \
         draws; PCA: 20 components. Adam lr {}, batch {}, {} epochs, seed {}.\n\n\
         Command · 命令: {}\n",
        test.len(),
        data.title(),
        test.len(),
        cfg.learning_rate,
        cfg.batch_size,
        cfg.epochs,
        cfg.seed,
        command(args, &flags)
    );
    ae_toolkit::atomic::write(&out.join("anomaly-auc.md"), (table + &note).as_bytes())?;
    // The same numbers by name, for the prose: `auc_<score>_<digit>` and `auc_<score>_mean`.
    let mut values = Results::new("anomaly");
    for (j, score) in ["ae", "vae", "pca"].iter().enumerate() {
        for (digit, a) in aucs.iter().enumerate() {
            values.number(&format!("auc_{score}_{digit}"), a[j], 3);
            // Read upside down (the score negated): what the text says a flip would give.
            values.number(&format!("auc_{score}_{digit}_flipped"), 1.0 - a[j], 3);
        }
        values.number(&format!("auc_{score}_mean"), means[j], 3);
    }
    // The range the autoencoder and the VAE span on the 7s and the 9s (the text's "near chance").
    let near_chance: Vec<f64> = [7, 9]
        .iter()
        .flat_map(|&d| [aucs[d][0], aucs[d][1]])
        .collect();
    values
        .number(
            "auc_ae_vae_79_min",
            near_chance.iter().copied().fold(f64::INFINITY, f64::min),
            3,
        )
        .number(
            "auc_ae_vae_79_max",
            near_chance
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max),
            3,
        );
    values.write(&out)?;
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
        &format!("ROC-AUC per held-out digit ({})", data.title()),
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
