//! Part 2: checkerboard artifacts. The convolutional autoencoder against the same network whose
//! decoder enlarges the image with stride-2 transposed convolutions instead of nearest-neighbour
//! upsampling followed by a convolution: same encoder, same parameter count, same training.
//!
//! The artifact is measured after every epoch on the test set, by [`alternating_energy`] of two
//! things: each reconstruction's error `x̂ − x` (averaged over the images), and the mean error
//! over the test set — one image, in which what the images have in common survives and their
//! own strokes average out, so a pattern tied to the pixel grid stands out.

use ae_toolkit::data::{DataSplits, Dataset, PIXELS};
use ae_toolkit::device::{ImageDevice, OnDevice};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::model::{reconstruct, reconstruction_loss, Autoencoder};
use ae_toolkit::plot::{image_rows, line_chart, Series};
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::{fit_evaluating_sets, mean_metrics, History, Metrics};
use ch07_convolutional::*;

use super::*;

pub(super) struct Checkerboard<'a> {
    pub(super) args: &'a Args,
    pub(super) data: &'a DataSplits,
}

/// Side of an MNIST image.
const SIDE: usize = 28;
/// Test images shown in the figure.
const SHOWN: usize = 10;
/// The metrics' parts, as the per-epoch records name them.
const RESIDUAL: &str = "residual_energy";
const MEAN_ERROR: &str = "mean_error_energy";

/// What one decoder gives.
struct Measured {
    key: &'static str,
    name: &'static str,
    history: History,
    /// The mean over the test set of reconstruction minus image, one 28×28 image.
    mean_error: Vec<f32>,
    reconstructions: Vec<f32>,
}

/// The mean error `x̂ − x` over the images of `set`, given their reconstructions.
fn mean_error(reconstructions: &[f32], set: &Dataset) -> Vec<f32> {
    let mut sum = vec![0.0f64; PIXELS];
    for (i, r) in reconstructions.chunks(PIXELS).enumerate() {
        for ((m, &p), &x) in sum.iter_mut().zip(r).zip(set.image(i)) {
            *m += (p - x) as f64;
        }
    }
    sum.iter().map(|&v| (v / set.len() as f64) as f32).collect()
}

/// The test loss, and the two energies of the errors as parts.
fn metrics<M: Autoencoder<D>, D: ImageDevice>(model: &M, dev: &D, set: &Dataset) -> Metrics {
    let mut loss = Metrics::loss_only(0.0);
    loss.loss = mean_metrics(model, dev, set, 1000, &mut |m: &M, b| {
        Metrics::loss_only(ae_toolkit::losses::scalar_value(
            &LOSS.loss(m.logits(b.x.clone()), b.x.clone()),
        ) as f64)
    })
    .loss;
    let r = reconstruct(model, dev, set, set.len(), LOSS);
    let residual = r
        .chunks(PIXELS)
        .enumerate()
        .map(|(i, im)| {
            let e: Vec<f32> = im.iter().zip(set.image(i)).map(|(p, x)| p - x).collect();
            alternating_energy(&e, SIDE)
        })
        .sum::<f64>()
        / set.len() as f64;
    loss.parts = vec![
        (RESIDUAL.into(), residual),
        (
            MEAN_ERROR.into(),
            alternating_energy(&mean_error(&r, set), SIDE),
        ),
    ];
    loss
}

fn measure<M: Autoencoder<D>, D: ImageDevice>(
    Checkerboard { args, data }: &Checkerboard,
    dev: &D,
    mut model: M,
    key: &'static str,
    name: &'static str,
) -> anyhow::Result<Measured> {
    let run = args.run.run_options(
        CHAPTER,
        &format!("checkerboard-{key}"),
        &format!("{name} on {}", data.title()),
    );
    let history = fit_evaluating_sets(
        &mut model,
        dev,
        data,
        &cfg(args, args.checkerboard_epochs),
        &run,
        |m, batch, grads| reconstruction_loss(m, batch.x, grads, LOSS),
        |m, set| metrics(m, dev, set),
    )?;
    let all = reconstruct(&model, dev, &data.test, data.test.len(), LOSS);
    println!(
        "{name}: test BCE {:.2}, residual energy {:.3e} untrained, {:.3e} trained ({})",
        history.last().test.loss,
        part(&history.epochs[0].test, RESIDUAL),
        part(&history.last().test, RESIDUAL),
        args.run.timing(&history)
    );
    Ok(Measured {
        key,
        name,
        mean_error: mean_error(&all, &data.test),
        reconstructions: all[..SHOWN * PIXELS].to_vec(),
        history,
    })
}

fn part(m: &Metrics, name: &str) -> f64 {
    m.parts
        .iter()
        .find(|(n, _)| n == name)
        .map_or(f64::NAN, |p| p.1)
}

impl OnDevice for Checkerboard<'_> {
    type Output = ();
    fn run<D: ImageDevice>(self, dev: D) -> anyhow::Result<()> {
        let measured = [
            measure(
                &self,
                &dev,
                ConvAutoencoder::build_on_device(&dev),
                "upsample",
                "upsample, then 3×3 convolution",
            )?,
            measure(
                &self,
                &dev,
                TransposedAutoencoder::build_on_device(&dev),
                "transposed",
                "3×3 transposed convolution, stride 2",
            )?,
        ];
        outputs(&self, &measured)
    }
}

/// Energies of the errors image by image are shown × 10⁴.
const SCALE: f64 = 1e4;
/// Energies of the mean error are shown × 10⁶: a hundred times smaller once trained, they would
/// round to 0.000 at the per-image scale.
const MEAN_SCALE: f64 = 1e6;

fn outputs(
    Checkerboard { args, data }: &Checkerboard,
    measured: &[Measured],
) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let mut results = Results::new("checkerboard");
    let mut rows = Vec::new();
    let energy = |v: f64| format!("{:.3}", v * SCALE);
    let mean_energy = |v: f64| format!("{:.2}", v * MEAN_SCALE);
    for m in measured {
        let k = m.key;
        let (first, untrained, last) = (
            &m.history.epochs[1].test,
            &m.history.epochs[0].test,
            &m.history.last().test,
        );
        for (when, metrics) in [
            ("untrained", untrained),
            ("epoch1", first),
            ("trained", last),
        ] {
            for (what, name, scale, decimals) in [
                ("residual", RESIDUAL, SCALE, 3),
                ("mean_error", MEAN_ERROR, MEAN_SCALE, 2),
            ] {
                results.number(
                    &format!("checkerboard_{k}_{what}_{when}"),
                    part(metrics, name) * scale,
                    decimals,
                );
            }
        }
        results
            .number(&format!("checkerboard_{k}_test_bce"), last.loss, 2)
            .number(&format!("checkerboard_{k}_test_bce_epoch1"), first.loss, 2)
            .with_unit(
                &format!("checkerboard_{k}_training_seconds"),
                m.history.training_seconds(),
                0,
                "s",
            );
        rows.push(vec![
            m.name.to_string(),
            energy(part(untrained, RESIDUAL)),
            energy(part(first, RESIDUAL)),
            energy(part(last, RESIDUAL)),
            mean_energy(part(last, MEAN_ERROR)),
            format!("{:.2}", first.loss),
            format!("{:.2}", last.loss),
            args.run.timing(&m.history),
        ]);
    }
    let epochs = measured[0].history.last().epoch;
    results.count("checkerboard_epochs", epochs);
    let table = format!(
        "{}\nAlternating energy (`alternating_energy`) of the reconstruction errors x̂ − x \
         of the {} test images of MNIST: per image (× 10⁴), averaged over the images, untrained, \
         after epoch 1 and after epoch {epochs}; and of the mean error over the test set (× 10⁶) \
         after epoch {epochs}. Both networks: Chapter 7's encoder, 4,385 parameters, BCE, Adam, \
         learning rate 0.001, batches of 128, seed {}. {}\n",
        markdown_table(
            &[
                "decoder enlarges by · 解码器的放大方式",
                "per image, untrained · 逐幅，未训练",
                "per image, epoch 1 · 逐幅，第 1 轮",
                "per image, trained · 逐幅，训练后",
                "mean error, trained · 平均误差，训练后",
                "test BCE, epoch 1 · 第 1 轮测试 BCE",
                "test BCE, trained · 训练后测试 BCE",
                "training · 训练",
            ],
            &rows,
        ),
        data.test.len(),
        args.run.seed,
        command(args, &["--experiment".into(), "checkerboard".into()]),
    );
    ae_toolkit::atomic::write(&out.join("checkerboard.md"), table.as_bytes())?;

    let curves: Vec<Series> = measured
        .iter()
        .map(|m| Series {
            name: m.name.into(),
            points: m
                .history
                .epochs
                .iter()
                .map(|e| (e.epoch as f64, part(&e.test, RESIDUAL) * SCALE))
                .collect(),
        })
        .collect();
    line_chart(
        &out.join("checkerboard-energy.svg"),
        &format!(
            "Alternating energy of the reconstruction errors on {}",
            data.title()
        ),
        "epoch (0: untrained)",
        "energy per image × 10⁴",
        &curves,
    )?;

    let originals: Vec<&[f32]> = (0..SHOWN).map(|i| data.test.image(i)).collect();
    let mut rows = vec![originals];
    rows.extend(
        measured
            .iter()
            .map(|m| m.reconstructions.chunks(PIXELS).collect()),
    );
    image_rows(
        &out.join("checkerboard-reconstructions.png"),
        &rows,
        (0.0, 1.0),
    )?;
    // The mean error of the two decoders side by side, on one symmetric scale.
    let bound = measured
        .iter()
        .flat_map(|m| m.mean_error.iter())
        .fold(0.0f32, |b, v| b.max(v.abs()));
    image_rows(
        &out.join("checkerboard-mean-error.png"),
        &[measured.iter().map(|m| m.mean_error.as_slice()).collect()],
        (-bound, bound),
    )?;
    results.write(&out)?;
    Ok(())
}
