//! Part 1: the Keras blog's convolutional autoencoder against two MLPs in Chapter 1's recipe,
//! one with the same code size (128 values) and one with about the same number of parameters.

use ae_toolkit::baseline::pca_loss;
use ae_toolkit::data::{DataSplits, PIXELS};
use ae_toolkit::device::{ImageDevice, OnDevice};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::model::{reconstruct, train_reconstruction, Autoencoder};
use ae_toolkit::plot::{image_rows, line_chart, Series};
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::History;
use ch07_convolutional::*;

use super::*;

pub(super) struct Comparison<'a> {
    pub(super) args: &'a Args,
    pub(super) data: &'a DataSplits,
}

/// One trained model's row of the comparison.
struct Trained {
    /// Result names start with this (`conv`, `mlp_code`, `mlp_params`).
    key: &'static str,
    /// How the table and the figure name it.
    name: String,
    code: usize,
    parameters: usize,
    history: History,
    /// Reconstructions of the first test images.
    reconstructions: Vec<f32>,
}

/// Test images shown in the reconstruction figure.
const SHOWN: usize = 10;

fn train_one<M: Autoencoder<D>, D: ImageDevice>(
    Comparison { args, data }: &Comparison,
    dev: &D,
    mut model: M,
    key: &'static str,
    name: String,
    code: usize,
) -> anyhow::Result<Trained> {
    let parameters = model.num_trainable_params();
    let run = args
        .run
        .run_options(CHAPTER, key, &format!("{name} on {}", data.title()));
    let history = train_reconstruction(
        &mut model,
        dev,
        data,
        LOSS,
        &cfg(args, args.conv_epochs),
        &run,
    )?;
    println!(
        "{name}: {:.2} BCE per test image after {} epochs ({})",
        history.last().test.loss,
        history.last().epoch,
        args.run.timing(&history)
    );
    let reconstructions = reconstruct(&model, dev, &data.test, SHOWN, LOSS);
    Ok(Trained {
        key,
        name,
        code,
        parameters,
        history,
        reconstructions,
    })
}

impl OnDevice for Comparison<'_> {
    type Output = ();
    fn run<D: ImageDevice>(self, dev: D) -> anyhow::Result<()> {
        let trained = [
            train_one(
                &self,
                &dev,
                ConvAutoencoder::build_on_device(&dev),
                "conv",
                "convolutional AE".into(),
                CODE,
            )?,
            train_one(
                &self,
                &dev,
                MlpSameCode::build_on_device(&dev),
                "mlp_code",
                format!("MLP 784-{CODE}-784"),
                CODE,
            )?,
            train_one(
                &self,
                &dev,
                MlpSameParams::build_on_device(&dev),
                "mlp_params",
                format!("MLP 784-{SAME_PARAMS_CODE}-784"),
                SAME_PARAMS_CODE,
            )?,
        ];
        outputs(&self, &trained)
    }
}

fn outputs(Comparison { args, data }: &Comparison, trained: &[Trained]) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let pca = pca_loss(LOSS, &data.train, &data.test, CODE);
    println!("PCA-{CODE}: {pca:.2} BCE per test image");

    let mut results = Results::new("conv");
    let mut rows = Vec::new();
    for t in trained {
        let last = t.history.last();
        let k = t.key;
        results
            .number(&format!("{k}_test_bce"), last.test.loss, 2)
            .number(
                &format!("{k}_test_bce_per_pixel"),
                last.test.loss / PIXELS as f64,
                4,
            )
            .count(&format!("{k}_parameters"), t.parameters)
            .count(&format!("{k}_code"), t.code)
            .with_unit(
                &format!("{k}_training_seconds"),
                t.history.training_seconds(),
                0,
                "s",
            );
        rows.push(vec![
            t.name.clone(),
            t.code.to_string(),
            t.parameters.to_string(),
            format!("{:.2}", last.test.loss),
            format!("{:.4}", last.test.loss / PIXELS as f64),
            args.run.timing(&t.history),
        ]);
    }
    rows.push(vec![
        format!("PCA-{CODE}"),
        CODE.to_string(),
        "—".into(),
        format!("{pca:.2}"),
        format!("{:.4}", pca / PIXELS as f64),
        "—".into(),
    ]);
    results
        .number("pca_test_bce", pca, 2)
        .count("epochs", trained[0].history.last().epoch);
    let epochs = trained[0].history.last().epoch;
    let table = format!(
        "{}\nTest BCE on {} after {epochs} epochs (Adam, learning rate 0.001, batches of 128, \
         seed {}); PCA-{CODE}: the test images' projections on the first {CODE} principal \
         components of the training images, clamped to [10⁻⁶, 1 − 10⁻⁶] and scored with the same \
         loss. {}\n",
        markdown_table(
            &[
                "model · 模型",
                "code values · 编码维数",
                "parameters · 参数",
                "BCE per image · 每幅图像",
                "per pixel · 每像素",
                "training · 训练",
            ],
            &rows,
        ),
        data.title(),
        args.run.seed,
        command(args, &["--experiment".into(), "conv".into()]),
    );
    ae_toolkit::atomic::write(&out.join("conv-comparison.md"), table.as_bytes())?;

    let series: Vec<Series> = trained
        .iter()
        .map(|t| Series {
            name: t.name.clone(),
            points: t
                .history
                .epochs
                .iter()
                .skip(1)
                .map(|e| (e.epoch as f64, e.test.loss))
                .collect(),
        })
        .chain([Series {
            name: format!("PCA-{CODE}"),
            points: vec![(1.0, pca), (epochs as f64, pca)],
        }])
        .collect();
    line_chart(
        &out.join("conv-loss.svg"),
        &format!("Convolutional autoencoder and MLPs on {}", data.title()),
        "epoch",
        "test BCE per image",
        &series,
    )?;

    let originals: Vec<&[f32]> = (0..SHOWN).map(|i| data.test.image(i)).collect();
    let mut rows = vec![originals];
    rows.extend(
        trained
            .iter()
            .map(|t| t.reconstructions.chunks(PIXELS).collect()),
    );
    image_rows(&out.join("conv-reconstructions.png"), &rows, (0.0, 1.0))?;
    results.write(&out)?;
    Ok(())
}
