//! Part 3: the convolutional VAE in the shape of TensorFlow's CVAE tutorial against Chapter 5's
//! MLP VAE, both trained and scored by Chapter 5's functions with Chapter 5's settings (Adam at
//! 10⁻³, batches of 128, 10 epochs, β = 1): with a 20-D latent space for the −ELBO (the MLP's row
//! is Chapter 5's main run: same model, seed, settings and data), and with a 2-D one for the
//! decoded manifold. Writes `vae-comparison.md`, `vae-samples.png`, `vae-manifold.png` and the
//! `vae` values of `results.json`.

use ae_toolkit::data::{DataSplits, PIXELS};
use ae_toolkit::device::{ImageDevice, OnDevice};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::plot::image_rows;
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::{EpochRecord, History};
use ch05_vae::{decode, manifold_codes, train_model, VariationalAutoencoder};
use ch07_convolutional::vae::ConvVae;

use super::*;

/// Chapter 5's latent size, for the −ELBO comparison.
const LATENT: usize = ch05_vae::LATENT;
/// Cells per side of each decoded manifold.
const MANIFOLD_SIDE: usize = 20;
/// Samples from the prior drawn by each 20-D model: rows × columns.
const SAMPLE_ROWS: usize = 6;
const SAMPLE_COLUMNS: usize = 8;

pub(super) struct Comparison<'a> {
    pub(super) args: &'a Args,
    pub(super) data: &'a DataSplits,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Architecture {
    /// [`ConvVae`].
    Convolutional,
    /// Chapter 5's [`ch05_vae::Vae`].
    Mlp,
}

impl Architecture {
    /// What result names start with (`cvae_20d_nelbo`, `mlp_vae_2d_kl`, …).
    fn key(self) -> &'static str {
        match self {
            Architecture::Convolutional => "cvae",
            Architecture::Mlp => "mlp_vae",
        }
    }

    /// How the table and the log name it.
    fn name(self) -> &'static str {
        match self {
            Architecture::Convolutional => "convolutional VAE (TensorFlow's CVAE)",
            Architecture::Mlp => "MLP VAE (Chapter 5)",
        }
    }
}

/// One model to train: its architecture, and the codes to decode once it is trained.
struct VaeRun<'a, const Z: usize> {
    comparison: &'a Comparison<'a>,
    architecture: Architecture,
    codes: &'a [f32],
}

/// One trained model's row of the table, and its decodings of the run's codes.
struct Trained {
    /// Result names start with this: `cvae_20d`, `mlp_vae_20d`, `cvae_2d`, `mlp_vae_2d`.
    key: String,
    /// How the table names it.
    name: String,
    latent: usize,
    parameters: usize,
    history: History,
    /// Pixel probabilities decoded from the run's codes.
    decoded: Vec<f32>,
}

impl<const Z: usize> OnDevice for VaeRun<'_, Z> {
    type Output = Trained;
    fn run<D: ImageDevice>(self, dev: D) -> anyhow::Result<Trained> {
        match self.architecture {
            Architecture::Convolutional => self.train(&dev, ConvVae::<Z>::build_on_device(&dev)),
            Architecture::Mlp => self.train(&dev, ch05_vae::Vae::<Z>::build_on_device(&dev)),
        }
    }
}

impl<const Z: usize> VaeRun<'_, Z> {
    fn train<D: ImageDevice, M: VariationalAutoencoder<Z, D>>(
        &self,
        dev: &D,
        mut model: M,
    ) -> anyhow::Result<Trained> {
        let Comparison { args, data } = self.comparison;
        let (key, name) = (self.architecture.key(), self.architecture.name());
        let description = format!("{name}, {Z}-D latent space, on {}", data.title());
        // `cvae-20d`, `mlp-vae-2d`, …: the checkpoint's directory under `target/runs/ch07/`.
        let run_name = format!("{}-{Z}d", key.replace('_', "-"));
        let run = args.run.run_options(CHAPTER, &run_name, &description);
        eprintln!("training {description}");
        let parameters = model.num_trainable_params();
        let history = train_model(
            &mut model,
            dev,
            data,
            1.0,
            &cfg(args, args.vae_epochs),
            &run,
        )?;
        let last = history.last();
        println!(
            "{name}, {Z}-D: test −ELBO per image {:.2} (reconstruction {:.2} + KL {:.2}) after {} \
             epochs ({})",
            last.test.loss,
            part(last, "reconstruction"),
            part(last, "kl"),
            last.epoch,
            args.run.timing(&history)
        );
        Ok(Trained {
            key: format!("{key}_{Z}d"),
            name: name.into(),
            latent: Z,
            parameters,
            decoded: decode(&model, dev, self.codes),
            history,
        })
    }
}

fn part(e: &EpochRecord, name: &str) -> f64 {
    e.test
        .parts
        .iter()
        .find(|(n, _)| n == name)
        .map_or(f64::NAN, |(_, v)| *v)
}

/// Runs the four trainings (each on a fresh device seeded with the run's seed, as Chapter 5's
/// runs are) and writes the table, the figures and the values.
pub(super) fn run(comparison: &Comparison) -> anyhow::Result<()> {
    let args = comparison.args;
    // The same draws from the prior for both 20-D models, independent of their training.
    let prior_codes = Cpu::seed_from_u64(args.run.seed)
        .sample_normal_like(&(SAMPLE_ROWS * SAMPLE_COLUMNS, Const::<LATENT>))
        .as_vec();
    let grid = manifold_codes(MANIFOLD_SIDE);
    let trained = [
        args.run.on_device(VaeRun::<LATENT> {
            comparison,
            architecture: Architecture::Convolutional,
            codes: &prior_codes,
        })?,
        args.run.on_device(VaeRun::<LATENT> {
            comparison,
            architecture: Architecture::Mlp,
            codes: &prior_codes,
        })?,
        args.run.on_device(VaeRun::<2> {
            comparison,
            architecture: Architecture::Convolutional,
            codes: &grid,
        })?,
        args.run.on_device(VaeRun::<2> {
            comparison,
            architecture: Architecture::Mlp,
            codes: &grid,
        })?,
    ];
    outputs(comparison, &trained)
}

/// Rows of images for one figure: the convolutional model's decodings on the left, a blank
/// column, the MLP's on the right; `columns` images per model and row.
fn side_by_side<'a>(
    conv: &'a [f32],
    mlp: &'a [f32],
    columns: usize,
    blank: &'a [f32],
) -> Vec<Vec<&'a [f32]>> {
    conv.chunks(columns * PIXELS)
        .zip(mlp.chunks(columns * PIXELS))
        .map(|(left, right)| {
            left.chunks(PIXELS)
                .chain([blank])
                .chain(right.chunks(PIXELS))
                .collect()
        })
        .collect()
}

fn outputs(Comparison { args, data }: &Comparison, trained: &[Trained]) -> anyhow::Result<()> {
    let out = args.run.out_dir(CHAPTER);
    let mut results = Results::new("vae");
    let mut rows = Vec::new();
    for t in trained {
        let last = t.history.last();
        let (rec, kl) = (part(last, "reconstruction"), part(last, "kl"));
        let k = &t.key;
        results
            .number(&format!("{k}_nelbo"), last.test.loss, 2)
            .number(&format!("{k}_reconstruction"), rec, 2)
            .number(&format!("{k}_kl"), kl, 2)
            .count(&format!("{k}_parameters"), t.parameters)
            .with_unit(
                &format!("{k}_training_seconds"),
                t.history.training_seconds(),
                0,
                "s",
            );
        rows.push(vec![
            t.name.clone(),
            t.latent.to_string(),
            t.parameters.to_string(),
            format!("**{:.2}**", last.test.loss),
            format!("{rec:.2}"),
            format!("{kl:.2}"),
            args.run.timing(&t.history),
        ]);
    }
    let epochs = trained[0].history.last().epoch;
    results.count("vae_epochs", epochs);
    let table = format!(
        "{}\nTest set, per image, in nats; {}; {epochs} epochs, Adam with learning rate 0.001, \
         batches of 128, β = 1, seed {}, both models trained and scored by Chapter 5's code (the \
         MLP: 784-400-(Z, Z) / Z-400-784, Chapter 5's model). TensorFlow's tutorial trains the \
         convolutional model with batches of 32 and learning rate 0.0001 on binarised digits. {}\n",
        markdown_table(
            &[
                "model · 模型",
                "latent size · 潜在维度",
                "parameters · 参数",
                "test −ELBO · 测试负证据下界",
                "reconstruction · 重构项",
                "KL · KL 项",
                "training · 训练",
            ],
            &rows,
        ),
        data.title(),
        args.run.seed,
        command(args, &["--experiment".into(), "vae".into()]),
    );
    ae_toolkit::atomic::write(&out.join("vae-comparison.md"), table.as_bytes())?;

    // White, so it reads as a gap between the two models' images.
    let blank = vec![1.0f32; PIXELS];
    image_rows(
        &out.join("vae-samples.png"),
        &side_by_side(
            &trained[0].decoded,
            &trained[1].decoded,
            SAMPLE_COLUMNS,
            &blank,
        ),
        (0.0, 1.0),
    )?;
    image_rows(
        &out.join("vae-manifold.png"),
        &side_by_side(
            &trained[2].decoded,
            &trained[3].decoded,
            MANIFOLD_SIDE,
            &blank,
        ),
        (0.0, 1.0),
    )?;
    results.write(&out)?;
    Ok(())
}
