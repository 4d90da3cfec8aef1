//! Part 2: checkerboard artifacts. The convolutional autoencoder against the same network whose
//! decoder enlarges the image with stride-2 transposed convolutions instead of nearest-neighbour
//! upsampling followed by a convolution: same encoder, same parameter count, same training.

use ae_toolkit::data::{DataSplits, PIXELS};
use ae_toolkit::device::{ImageDevice, OnDevice};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::model::{reconstruct, train_reconstruction, Autoencoder};
use ae_toolkit::plot::image_rows;
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::History;
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

/// What one decoder gives, untrained and trained.
struct Measured {
    key: &'static str,
    name: &'static str,
    energy_untrained: f64,
    energy_trained: f64,
    history: History,
    /// The mean over the test set of reconstruction minus image, one 28×28 image.
    mean_error: Vec<f32>,
    reconstructions: Vec<f32>,
}

/// Mean [`alternating_energy`] of the reconstructions of every test image.
fn mean_energy<M: Autoencoder<D>, D: ImageDevice>(model: &M, dev: &D, data: &DataSplits) -> f64 {
    let n = data.test.len();
    let r = reconstruct(model, dev, &data.test, n, LOSS);
    r.chunks(PIXELS)
        .map(|im| alternating_energy(im, SIDE))
        .sum::<f64>()
        / n as f64
}

fn measure<M: Autoencoder<D>, D: ImageDevice>(
    Checkerboard { args, data }: &Checkerboard,
    dev: &D,
    mut model: M,
    key: &'static str,
    name: &'static str,
) -> anyhow::Result<Measured> {
    let energy_untrained = mean_energy(&model, dev, data);
    let run = args.run.run_options(
        CHAPTER,
        &format!("checkerboard-{key}"),
        &format!("{name} on {}", data.title()),
    );
    let history = train_reconstruction(
        &mut model,
        dev,
        data,
        LOSS,
        &cfg(args, args.checkerboard_epochs),
        &run,
    )?;
    let energy_trained = mean_energy(&model, dev, data);
    let n = data.test.len();
    let all = reconstruct(&model, dev, &data.test, n, LOSS);
    let mut mean_error = vec![0.0f64; PIXELS];
    for (i, r) in all.chunks(PIXELS).enumerate() {
        for ((m, &p), &x) in mean_error.iter_mut().zip(r).zip(data.test.image(i)) {
            *m += (p - x) as f64 / n as f64;
        }
    }
    println!(
        "{name}: test BCE {:.2}, alternating energy {energy_untrained:.3e} untrained, \
         {energy_trained:.3e} trained ({})",
        history.last().test.loss,
        args.run.timing(&history)
    );
    Ok(Measured {
        key,
        name,
        energy_untrained,
        energy_trained,
        history,
        mean_error: mean_error.iter().map(|&v| v as f32).collect(),
        reconstructions: all[..SHOWN * PIXELS].to_vec(),
    })
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

fn outputs(
    Checkerboard { args, data }: &Checkerboard,
    measured: &[Measured],
) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let originals = data
        .test
        .images
        .chunks(PIXELS)
        .map(|im| alternating_energy(im, SIDE))
        .sum::<f64>()
        / data.test.len() as f64;
    let mut results = Results::new("checkerboard");
    results.with_unit("checkerboard_energy_images", originals * 1e4, 2, "× 10⁻⁴");
    let mut rows = Vec::new();
    for m in measured {
        let k = m.key;
        results
            .with_unit(
                &format!("checkerboard_energy_{k}_untrained"),
                m.energy_untrained * 1e4,
                2,
                "× 10⁻⁴",
            )
            .with_unit(
                &format!("checkerboard_energy_{k}_trained"),
                m.energy_trained * 1e4,
                2,
                "× 10⁻⁴",
            )
            .number(
                &format!("checkerboard_{k}_test_bce"),
                m.history.last().test.loss,
                2,
            )
            .with_unit(
                &format!("checkerboard_{k}_training_seconds"),
                m.history.training_seconds(),
                0,
                "s",
            );
        rows.push(vec![
            m.name.to_string(),
            format!("{:.2}", m.energy_untrained * 1e4),
            format!("{:.2}", m.energy_trained * 1e4),
            format!("{:.2}", m.history.last().test.loss),
            args.run.timing(&m.history),
        ]);
    }
    rows.push(vec![
        "the test images themselves · 测试图像本身".into(),
        "—".into(),
        format!("{:.2}", originals * 1e4),
        "—".into(),
        "—".into(),
    ]);
    let epochs = measured[0].history.last().epoch;
    results.count("checkerboard_epochs", epochs);
    let table = format!(
        "{}\nAlternating energy: the mean over the {} test images of MNIST of c₁₀² + c₀₁² + c₁₁², \
         the squared Fourier coefficients of a reconstruction at the highest frequencies \
         (`alternating_energy`), × 10⁴. Both networks: Chapter 7's encoder, 4,385 parameters, \
         BCE, Adam, learning rate 0.001, batches of 128, {epochs} epochs, seed {}. {}\n",
        markdown_table(
            &[
                "decoder enlarges by · 解码器的放大方式",
                "energy untrained · 未训练时能量",
                "energy trained · 训练后能量",
                "test BCE per image · 每幅图像测试 BCE",
                "training · 训练",
            ],
            &rows,
        ),
        data.test.len(),
        args.run.seed,
        command(args, &["--experiment".into(), "checkerboard".into()]),
    );
    ae_toolkit::atomic::write(&out.join("checkerboard.md"), table.as_bytes())?;

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
