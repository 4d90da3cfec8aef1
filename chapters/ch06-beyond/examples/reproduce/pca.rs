//! Part 1: linear and nonlinear autoencoders against PCA of the same width, with principal angles.

use super::*;

pub(super) struct PcaComparison<'a> {
    pub(super) args: &'a Args,
    pub(super) data: &'a DataSplits,
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
            data.title(),
            args.run.epochs_or(args.linear_epochs as usize),
            args.run.epochs_or(10),
            args.run.seed,
            command(args, &flags)
        );
        ae_toolkit::atomic::write(&out.join("pca-comparison.md"), (table + &note).as_bytes())?;
        // The same numbers by name, for the prose (book/generated/ch06/results.json).
        let mut values = Results::new("pca");
        for r in &results {
            let k = r.k;
            values
                .number(&format!("pca_k{k}"), r.pca, 2)
                .number(&format!("linear_k{k}"), r.linear, 2)
                .number(&format!("nonlinear_k{k}"), r.nonlinear, 2)
                .with_unit(
                    &format!("linear_gap_k{k}"),
                    100.0 * (r.linear - r.pca) / r.pca,
                    1,
                    "%",
                )
                .with_unit(
                    &format!("nonlinear_share_k{k}"),
                    100.0 * r.nonlinear / r.pca,
                    0,
                    "%",
                )
                .text(
                    &format!("angle_min_k{k}"),
                    r.angles[0],
                    format!("{:.2}°", r.angles[0]),
                )
                .text(
                    &format!("angle_max_k{k}"),
                    *r.angles.last().unwrap(),
                    format!("{:.2}°", r.angles.last().unwrap()),
                );
        }
        // PCA-30 before rounding: the calibration against the paper's 13.87.
        values.number("pca_k30_exact", results.last().unwrap().pca, 3);
        values.write(&out)?;

        let series = |name: &str, f: &dyn Fn(&WidthResult) -> f64| Series {
            name: name.into(),
            points: results.iter().map(|r| (r.k as f64, f(r))).collect(),
        };
        line_chart(
            &out.join("pca-comparison.svg"),
            &format!("Reconstruction error vs code width on {}", data.title()),
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
        ..args.run.train_config(args.linear_epochs as usize, 128)
    };
    let (linear, _) = train_linear::<K, D>(
        dev,
        data,
        &linear_cfg,
        &args.run.run_options(
            CHAPTER,
            &format!("linear-{K}"),
            &format!("linear AE, k {K}, on {}", data.title()),
        ),
    )?;
    let mut nonlinear = NonlinearAe::<K>::build_on_device(dev);
    train_reconstruction(
        &mut nonlinear,
        dev,
        data,
        ReconstructionLoss::BcePerImage,
        &args.run.train_config(10, 128),
        &args.run.run_options(
            CHAPTER,
            &format!("nonlinear-{K}"),
            &format!("784-400-{K} AE on {}", data.title()),
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
            ReconstructionLoss::LinearMse,
        )),
        nonlinear: mean(&model_squared_errors(
            &nonlinear,
            dev,
            &data.test,
            ReconstructionLoss::BcePerImage,
        )),
        angles,
        linear_recon: reconstruct(&linear, dev, &data.test, 10, ReconstructionLoss::LinearMse),
        nonlinear_recon: reconstruct(
            &nonlinear,
            dev,
            &data.test,
            10,
            ReconstructionLoss::BcePerImage,
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// 2. The deep autoencoder against Hinton & Salakhutdinov (2006)
