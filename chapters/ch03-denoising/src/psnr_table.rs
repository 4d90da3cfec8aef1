//! The chapter's PSNR table: which test images and corruptions it scores, one row per noise, and
//! the Markdown it is printed as. The example and the benchmarks share it.

use ae_toolkit::data::{Dataset, PIXELS};

use crate::{corrupt_all, gaussian_3x3, median_3x3, mse, noise_rng, psnr, Noise};

/// Noise levels σ of the PSNR table's rows: a model trained at one σ is scored at all of them.
pub const PSNR_SIGMAS: [f32; 6] = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0];

/// The chapter's fraction of masked pixels (its example's default, the PSNR table's last row).
pub const MASKED_FRACTION: f32 = 0.3;

/// Test images the PSNR table scores (the filters run on the CPU, image by image).
pub const PSNR_IMAGES: usize = 2000;

/// Pixels in `[−1, 1]` span a range of 2: the `R` of [`psnr`].
pub const PIXEL_RANGE: f64 = 2.0;

/// The test images of the PSNR table and their corruptions, drawn once from the run's seed
/// ([`noise_rng`]`(seed, 100)`), so every denoiser a table compares is scored on the same noise.
#[derive(Clone, Debug, PartialEq)]
pub struct PsnrTestImages {
    /// The first [`PSNR_IMAGES`] test images, clean.
    pub clean: Dataset,
    /// The clean images with Gaussian noise, one copy per σ of [`PSNR_SIGMAS`].
    pub gaussian: Vec<Vec<f32>>,
    /// The masking noise of the table's last row.
    pub masking: Noise,
    /// The clean images with `masking`.
    pub masked: Vec<f32>,
    /// The Gaussian noise the models are trained with.
    pub training_noise: Noise,
    /// The clean images with `training_noise`, a draw of their own: the inputs the figures show.
    pub at_training_noise: Vec<f32>,
}

impl PsnrTestImages {
    /// Corrupts the first [`PSNR_IMAGES`] images of `test`: with Gaussian noise at every σ of
    /// [`PSNR_SIGMAS`], with masking of `mask_fraction`, and with Gaussian noise at the training
    /// σ `training_sigma`, in that order from one stream.
    pub fn draw(test: &Dataset, training_sigma: f32, mask_fraction: f32, seed: u64) -> Self {
        let clean = test.head(PSNR_IMAGES);
        let mut rng = noise_rng(seed, 100);
        let gaussian = PSNR_SIGMAS
            .iter()
            .map(|&sigma| corrupt_all(&clean, Noise::Gaussian { sigma }, &mut rng))
            .collect();
        let masking = Noise::Masking {
            fraction: mask_fraction,
        };
        let masked = corrupt_all(&clean, masking, &mut rng);
        let training_noise = Noise::Gaussian {
            sigma: training_sigma,
        };
        let at_training_noise = corrupt_all(&clean, training_noise, &mut rng);
        PsnrTestImages {
            clean,
            gaussian,
            masking,
            masked,
            training_noise,
            at_training_noise,
        }
    }

    /// What a model trained with Gaussian noise denoises: the copy at every σ of
    /// [`PSNR_SIGMAS`], then the copy at the training σ (the last is shown, not scored).
    pub fn gaussian_inputs(&self) -> Vec<&[f32]> {
        let mut inputs: Vec<&[f32]> = self.gaussian.iter().map(Vec::as_slice).collect();
        inputs.push(&self.at_training_noise);
        inputs
    }

    /// The table's rows: one per σ of [`PSNR_SIGMAS`], scored on the outputs of the models
    /// trained with Gaussian noise, then the masking row, scored on those of the models trained
    /// with masking. A denoiser is one column: `gaussian_outputs[c]` holds denoiser `c`'s
    /// reconstructions of [`gaussian_inputs`](Self::gaussian_inputs), in order, and
    /// `masking_outputs[c]` its reconstruction of `masked`.
    pub fn score(
        &self,
        gaussian_outputs: &[&[Vec<f32>]],
        masking_outputs: &[&[f32]],
    ) -> Vec<PsnrRow> {
        assert_eq!(
            gaussian_outputs.len(),
            masking_outputs.len(),
            "one masking output per denoiser"
        );
        let clean = &self.clean.images;
        let mut rows: Vec<PsnrRow> = PSNR_SIGMAS
            .iter()
            .enumerate()
            .map(|(i, &sigma)| {
                let denoised: Vec<&[f32]> =
                    gaussian_outputs.iter().map(|o| o[i].as_slice()).collect();
                PsnrRow::score(
                    Noise::Gaussian { sigma },
                    clean,
                    &self.gaussian[i],
                    &denoised,
                )
            })
            .collect();
        rows.push(PsnrRow::score(
            self.masking,
            clean,
            &self.masked,
            masking_outputs,
        ));
        rows
    }
}

/// One row of the PSNR table: mean PSNR (dB) against the clean images of the noisy input, of each
/// denoiser's reconstruction, and of the two classical filters applied to the noisy input.
#[derive(Clone, Debug, PartialEq)]
pub struct PsnrRow {
    /// The row's corruption.
    pub noise: Noise,
    /// The noisy input itself: what doing nothing scores.
    pub noisy_input: f64,
    /// One per denoiser, in the table's column order.
    pub denoisers: Vec<f64>,
    /// [`median_3x3`] of the noisy input.
    pub median_3x3: f64,
    /// [`gaussian_3x3`] of the noisy input.
    pub gaussian_3x3: f64,
}

impl PsnrRow {
    /// Scores `noisy` (the images `clean` corrupted by `noise`), each denoiser's reconstructions
    /// of it (`denoised`) and the two filters applied to it, all row-major images.
    pub fn score(noise: Noise, clean: &[f32], noisy: &[f32], denoised: &[&[f32]]) -> Self {
        let filtered = |filter: fn(&[f32]) -> Vec<f32>| -> Vec<f32> {
            noisy.chunks(PIXELS).flat_map(filter).collect()
        };
        PsnrRow {
            noise,
            noisy_input: mean_psnr(noisy, clean),
            denoisers: denoised.iter().map(|d| mean_psnr(d, clean)).collect(),
            median_3x3: mean_psnr(&filtered(median_3x3), clean),
            gaussian_3x3: mean_psnr(&filtered(gaussian_3x3), clean),
        }
    }

    /// The values in the table's column order: noisy input, the denoisers, median, Gaussian.
    pub fn values(&self) -> Vec<f64> {
        let mut values = vec![self.noisy_input];
        values.extend(&self.denoisers);
        values.extend([self.median_3x3, self.gaussian_3x3]);
        values
    }

    /// The row's first cell: σ for Gaussian noise (`0.5`), else the noise (`masking 30 %`).
    pub fn label(&self) -> String {
        match self.noise {
            Noise::Gaussian { sigma } => format!("{sigma}"),
            other => format!("{other}"),
        }
    }

    /// The row's part of a result name: `s0_5` for σ = 0.5, `masking`, `clean`.
    pub fn key(&self) -> String {
        match self.noise {
            Noise::Gaussian { sigma } => format!("s{}", format!("{sigma}").replace('.', "_")),
            Noise::Masking { .. } => "masking".to_string(),
            Noise::None => "clean".to_string(),
        }
    }

    /// The row's cells: the label, then every value with two decimals, the best of the denoisers
    /// and filters in bold (the noisy input is not a denoiser).
    pub fn cells(&self) -> Vec<String> {
        let values = self.values();
        let best = values[1..].iter().cloned().fold(f64::MIN, f64::max);
        let mut cells = vec![self.label()];
        cells.extend(values.iter().enumerate().map(|(k, v)| {
            if k > 0 && *v == best {
                format!("**{v:.2}**")
            } else {
                format!("{v:.2}")
            }
        }));
        cells
    }
}

/// The PSNR table in Markdown: σ, noisy input, one column per header of `denoisers` (bilingual,
/// `English · 中文`), median 3×3, Gaussian 3×3.
pub fn psnr_table(denoisers: &[&str], rows: &[PsnrRow]) -> String {
    let mut headers = vec!["σ", "noisy input · 含噪输入"];
    headers.extend(denoisers);
    headers.extend(["median 3×3 · 中值滤波", "Gaussian 3×3 · 高斯滤波"]);
    let cells: Vec<Vec<String>> = rows.iter().map(PsnrRow::cells).collect();
    ae_toolkit::report::markdown_table(&headers, &cells)
}

/// PSNR of each image of `images` against its clean original, averaged over the images (dB).
pub fn mean_psnr(images: &[f32], clean: &[f32]) -> f64 {
    assert_eq!(images.len(), clean.len(), "as many images as originals");
    let per_image: Vec<f64> = images
        .chunks(PIXELS)
        .zip(clean.chunks(PIXELS))
        .map(|(a, b)| psnr(mse(a, b), PIXEL_RANGE))
        .collect();
    per_image.iter().sum::<f64>() / per_image.len() as f64
}
