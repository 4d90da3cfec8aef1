//! Part 2: the convolutional denoising autoencoder against Chapter 3's MLP, both trained with
//! Chapter 3's objective, noise, configuration and seed, on Chapter 3's PSNR table (its test
//! corruption, its filters) with a column for the convolutional model.

use ae_toolkit::data::{DataSplits, PIXELS};
use ae_toolkit::device::{ImageDevice, OnDevice};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::plot::image_rows;
use ae_toolkit::results::Results;
use ae_toolkit::train::History;
use ch03_denoising::{denoise, psnr_table, training_config, Noise, PsnrTestImages};
use ch03_denoising::{MASKED_FRACTION, PSNR_SIGMAS, SIGMA};
use ch07_convolutional::denoising;

use super::*;

/// The two architectures, each trained once per noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Architecture {
    /// Chapter 3's MLP, 784-512-256-128-256-512-784.
    Mlp,
    /// This chapter's convolutional autoencoder, code 4×4×8.
    Conv,
}

impl Architecture {
    /// Result names and run directories start with this.
    fn key(self) -> &'static str {
        match self {
            Architecture::Mlp => "mlp",
            Architecture::Conv => "conv",
        }
    }
}

/// What one training run leaves on the host.
struct Outcome {
    history: History,
    parameters: usize,
    /// The model's reconstructions of each of the run's inputs.
    outputs: Vec<Vec<f32>>,
}

/// Trains one model with `noise` on a freshly seeded device (as Chapter 3's example does, so the
/// MLP's numbers are Chapter 3's) and denoises each of `inputs` with it.
struct TrainingRun<'a> {
    args: &'a Args,
    data: &'a DataSplits,
    architecture: Architecture,
    noise: Noise,
    inputs: Vec<&'a [f32]>,
}

impl OnDevice for TrainingRun<'_> {
    type Output = Outcome;
    fn run<D: ImageDevice>(self, dev: D) -> anyhow::Result<Outcome> {
        let cfg = training_config(
            self.args.run.epochs_or(self.args.denoising_epochs as usize),
            self.args.run.seed,
        );
        let noise_name = match self.noise {
            Noise::Masking { .. } => "masking",
            _ => "gaussian",
        };
        let name = format!("denoising-{}-{noise_name}", self.architecture.key());
        let description = format!(
            "{:?} denoiser, {} on {}",
            self.architecture,
            self.noise,
            self.data.title()
        );
        let run = self.args.run.run_options(CHAPTER, &name, &description);
        eprintln!("training {name} ({})", self.noise);
        let outcome = |history, parameters, outputs| Outcome {
            history,
            parameters,
            outputs,
        };
        Ok(match self.architecture {
            Architecture::Mlp => {
                let (model, history) =
                    ch03_denoising::train(&dev, self.data, self.noise, &cfg, &run)?;
                let outputs = self
                    .inputs
                    .iter()
                    .map(|x| denoise(&model, &dev, x))
                    .collect();
                outcome(history, model.num_trainable_params(), outputs)
            }
            Architecture::Conv => {
                let (model, history) = denoising::train(&dev, self.data, self.noise, &cfg, &run)?;
                let outputs = self
                    .inputs
                    .iter()
                    .map(|x| denoise(&model, &dev, x))
                    .collect();
                outcome(history, model.num_trainable_params(), outputs)
            }
        })
    }
}

/// Test images shown in the figure.
const SHOWN: usize = 10;

/// Trains the MLP and the convolutional model with Gaussian noise (σ = Chapter 3's) and with
/// masking, and writes `psnr-mnist.md`, `denoising-examples.png` and the `denoising` results.
/// `data` is MNIST in `[0, 1]`; Chapter 3's models see it scaled to `[−1, 1]`.
pub(super) fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let data = data.clone().to_symmetric_range();
    let images = PsnrTestImages::draw(&data.test, SIGMA, MASKED_FRACTION, args.run.seed);
    let train = |architecture, noise, inputs| {
        args.run.on_device(TrainingRun {
            args,
            data: &data,
            architecture,
            noise,
            inputs,
        })
    };
    let mut gaussian = Vec::new();
    let mut masking = Vec::new();
    for architecture in [Architecture::Mlp, Architecture::Conv] {
        gaussian.push(train(
            architecture,
            images.training_noise,
            images.gaussian_inputs(),
        )?);
        masking.push(train(
            architecture,
            images.masking,
            vec![images.masked.as_slice()],
        )?);
    }
    let [mlp, conv] = [&gaussian[0], &gaussian[1]];
    let rows = images.score(
        &[mlp.outputs.as_slice(), conv.outputs.as_slice()],
        &[
            masking[0].outputs[0].as_slice(),
            masking[1].outputs[0].as_slice(),
        ],
    );

    let out = args.run.out_dir(CHAPTER);
    let mut results = Results::new("denoising");
    for row in &rows {
        let at = row.key();
        let methods = ["input", "mlp", "conv", "median", "gaussian"];
        for (method, value) in methods.iter().zip(row.values()) {
            results.number(&format!("denoising_{method}_psnr_{at}"), value, 2);
        }
    }
    for (architecture, g, m) in [
        (Architecture::Mlp, &gaussian[0], &masking[0]),
        (Architecture::Conv, &gaussian[1], &masking[1]),
    ] {
        let k = architecture.key();
        results
            .count(&format!("denoising_{k}_parameters"), g.parameters)
            .number(
                &format!("denoising_{k}_test_mse"),
                g.history.last().test.loss,
                4,
            )
            .number(
                &format!("denoising_{k}_masking_test_mse"),
                m.history.last().test.loss,
                4,
            )
            .with_unit(
                &format!("denoising_{k}_training_seconds"),
                g.history.training_seconds(),
                0,
                "s",
            );
    }
    let epochs = mlp.history.last().epoch;
    results.count("denoising_epochs", epochs);

    let mut flags = vec!["--experiment".to_string(), "denoising".to_string()];
    if args.denoising_epochs as usize != ch03_denoising::EPOCHS {
        flags.extend([
            "--denoising-epochs".to_string(),
            args.denoising_epochs.to_string(),
        ]);
    }
    let mut table = psnr_table(
        &[
            "MLP autoencoder · 全连接自编码器",
            "convolutional AE · 卷积自编码器",
        ],
        &rows,
    );
    table.push_str(&format!(
        "\nPSNR in dB (bold: the best of the four denoisers), mean over the first {} test images \
         of {}, Chapter 3's test corruption and filters. Both autoencoders trained with Chapter \
         3's objective (MSE against the clean image, pixels in [−1, 1], linear output), Adam lr \
         0.001 betas (0.5, 0.999), batch 128, {epochs} epochs, seed {}: one model of each per \
         noise, Gaussian σ = {SIGMA} for the σ rows (scored at every σ), masking {:.0} % for the \
         last. MLP 784-512-256-128-256-512-784, {} parameters; convolutional AE of this chapter \
         (code 4×4×8), {} parameters. Test MSE against the clean images · 对干净图像的测试 MSE, \
         Gaussian / masking model: MLP {:.4} / {:.4}, convolutional {:.4} / {:.4}; training \
         (Gaussian model) MLP {}, convolutional {}. {}\n",
        images.clean.len(),
        data.title(),
        args.run.seed,
        MASKED_FRACTION * 100.0,
        mlp.parameters,
        conv.parameters,
        mlp.history.last().test.loss,
        masking[0].history.last().test.loss,
        conv.history.last().test.loss,
        masking[1].history.last().test.loss,
        args.run.timing(&mlp.history),
        args.run.timing(&conv.history),
        command(args, &flags),
    ));
    ae_toolkit::atomic::write(&out.join("psnr-mnist.md"), table.as_bytes())?;

    // Clean, noisy (the draw at the training σ), the MLP's and the convolutional model's output.
    fn shown(images: &[f32]) -> Vec<&[f32]> {
        images.chunks(PIXELS).take(SHOWN).collect()
    }
    let at_training = PSNR_SIGMAS.len(); // the last Gaussian input: the draw at the training σ
    let figure_rows = vec![
        shown(&images.clean.images),
        shown(&images.at_training_noise),
        shown(&mlp.outputs[at_training]),
        shown(&conv.outputs[at_training]),
    ];
    image_rows(
        &out.join("denoising-examples.png"),
        &figure_rows,
        (-1.0, 1.0),
    )?;
    results.write(&out)?;

    let row = &rows[PSNR_SIGMAS
        .iter()
        .position(|&s| s == SIGMA)
        .expect("the training σ is a row of the table")];
    println!(
        "PSNR at σ = {SIGMA}: noisy input {:.2} dB, MLP {:.2} dB, convolutional {:.2} dB, \
         median 3×3 {:.2} dB, Gaussian 3×3 {:.2} dB",
        row.noisy_input, row.denoisers[0], row.denoisers[1], row.median_3x3, row.gaussian_3x3
    );
    Ok(())
}
