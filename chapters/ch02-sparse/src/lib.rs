//! Chapter 2: the sparse autoencoder.
//!
//! A 784-400-784 autoencoder whose 400 sigmoid hidden units are pushed to be *rarely* active: the
//! loss adds `β Σⱼ KL(ρ ‖ ρ̂ⱼ)`, where `ρ̂ⱼ` is unit `j`'s mean activation over the batch and `ρ`
//! the target (0.05). The L1 activity penalty `λ Σⱼ hⱼ` is the alternative. Data, batches,
//! the reconstruction loss and the training loop come from [`ae_toolkit`].

use ae_toolkit::batch::{Batch, Images};
use ae_toolkit::data::{DataSplits, Dataset};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::{bce_with_logits_per_image, scalar_value};
use ae_toolkit::train::{
    fit_evaluating_sets, mean_metrics, History, Metrics, RunOptions, TrainConfig,
};

/// Number of hidden units.
pub const HIDDEN: usize = 400;

/// The chapter's target mean activation ρ (its example's default, and the benchmarks').
pub const RHO: f32 = 0.05;
/// The chapter's weight β of the KL penalty (its example's default, and the benchmarks').
pub const BETA: f32 = 3.0;

// ANCHOR: model
/// Encoder: 784 → 400 with a sigmoid, so every activation lies in (0, 1).
pub type SparseEncoder = (Linear<784, HIDDEN>, Sigmoid);
/// Decoder: 400 → 784 logits (the output sigmoid is taken inside the BCE).
pub type SparseDecoder = Linear<HIDDEN, 784>;
/// The sparse autoencoder: `(encoder, decoder)`.
pub type SparseAutoencoder = (SparseEncoder, SparseDecoder);
// ANCHOR_END: model

/// Hidden activations of a batch: `(batch, 400)`.
pub type Hidden<D, T = NoneTape> = Tensor<(usize, Const<HIDDEN>), f32, D, T>;

/// Mean activations are kept in `[ε, 1 − ε]` before taking logarithms (see [`kl_sparsity`]).
pub const RHO_HAT_EPSILON: f32 = 1e-6;

/// The sparsity penalty added to the reconstruction loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Penalty {
    /// No penalty: a plain autoencoder with a sigmoid code.
    None,
    /// `β Σⱼ KL(ρ ‖ ρ̂ⱼ)`.
    Kl {
        /// Target mean activation ρ.
        rho: f32,
        /// Weight β.
        beta: f32,
    },
    /// `λ · (1/B) Σ_b Σⱼ h_bj`: the mean over the batch of each image's total activation
    /// (activations are positive, so this is their L1 norm).
    L1 {
        /// Weight λ.
        lambda: f32,
    },
}

// BEGIN SOLUTION kl_sparsity
// ANCHOR: kl_sparsity
/// `Σⱼ KL(ρ ‖ ρ̂ⱼ) = Σⱼ [ρ ln(ρ/ρ̂ⱼ) + (1 − ρ) ln((1 − ρ)/(1 − ρ̂ⱼ))]`, where `ρ̂ⱼ` is the mean of
/// hidden unit `j` over the batch.
///
/// A unit whose mean reaches 0 or 1 in f32 (saturated on the whole batch) would make a logarithm
/// infinite, so ρ̂ⱼ is clamped to `[ε, 1 − ε]` first (ε = 10⁻⁶): the penalty stays finite, at
/// most about 12.9 per unit for ρ = 0.05 (at ρ̂ⱼ = 1 − ε). Outside the clamp no gradient flows,
/// so a unit with ρ̂ⱼ < ε or > 1 − ε is moved by the reconstruction loss alone.
pub fn kl_sparsity<D: Device<f32>, T: Tape<f32, D> + Default>(
    hidden: Hidden<D, T>,
    rho: f32,
) -> Tensor<Rank0, f32, D, T> {
    let rho_hat = hidden
        .mean::<Rank1<HIDDEN>, _>()
        .clamp(RHO_HAT_EPSILON, 1.0 - RHO_HAT_EPSILON);
    // ρ ln ρ + (1 − ρ) ln(1 − ρ) is a constant; the rest is the cross-entropy of ρ̂ⱼ against ρ.
    let constant = rho * rho.ln() + (1.0 - rho) * (1.0 - rho).ln();
    let log_active = rho_hat.with_empty_tape().ln() * (-rho);
    let log_inactive = (rho_hat.negate() + 1.0).ln() * (rho - 1.0);
    (log_active + log_inactive + constant).sum::<Rank0, _>()
}
// ANCHOR_END: kl_sparsity
// END SOLUTION

// BEGIN SOLUTION l1_activity
/// `(1/B) Σ_b Σⱼ h_bj`: each image's total activation, averaged over the batch.
pub fn l1_activity<D: Device<f32>, T: Tape<f32, D>>(
    hidden: Hidden<D, T>,
) -> Tensor<Rank0, f32, D, T> {
    hidden.sum::<(usize,), _>().mean()
}
// END SOLUTION

/// The built model on device `D`.
pub type Model<D> = <SparseAutoencoder as BuildOnDevice<D, f32>>::Built;

// ANCHOR: objective
/// The training objective: BCE summed per image (averaged over the batch) plus the penalty.
pub fn sparse_loss<D: Device<f32>>(
    model: &mut Model<D>,
    x: Images<D>,
    grads: Gradients<f32, D>,
    penalty: Penalty,
) -> Tensor<Rank0, f32, D, OwnedTape<f32, D>> {
    let hidden = model.0.forward_mut(x.clone().traced(grads));
    // The hidden activations feed both the decoder and the penalty. A traced tensor cannot be
    // cloned; `with_empty_tape` gives a second handle whose operations join the same tape.
    let for_penalty = hidden.with_empty_tape();
    let reconstruction = bce_with_logits_per_image(model.1.forward_mut(hidden), x);
    match penalty {
        Penalty::None => reconstruction,
        Penalty::Kl { rho, beta } => reconstruction + kl_sparsity(for_penalty, rho) * beta,
        Penalty::L1 { lambda } => reconstruction + l1_activity(for_penalty) * lambda,
    }
}
// ANCHOR_END: objective

/// Checks that a target activation ρ lies in the open interval (0, 1): at 0 or 1 the KL penalty's
/// `ρ ln ρ` or `(1 − ρ) ln(1 − ρ)` is `0 · ln 0`, NaN in floating point, and outside it the
/// penalty is not a divergence between two Bernoulli distributions at all.
///
/// ```
/// assert_eq!(ch02_sparse::check_rho(0.05), Ok(0.05));
/// let err = ch02_sparse::check_rho(0.0).unwrap_err();
/// assert!(err.contains("between 0 and 1"), "{err}");
/// assert!(ch02_sparse::check_rho(f32::NAN).is_err());
/// ```
pub fn check_rho(rho: f32) -> Result<f32, String> {
    if rho > 0.0 && rho < 1.0 {
        Ok(rho)
    } else {
        Err(format!(
            "the target activation ρ must lie strictly between 0 and 1 (got {rho}); the chapter \
             uses 0.05"
        ))
    }
}

impl Penalty {
    /// The penalty if its parameters are valid: ρ in (0, 1), weights finite and non-negative.
    pub fn validated(self) -> Result<Self, String> {
        let weight = |name: &str, w: f32| {
            if w.is_finite() && w >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "the penalty weight {name} must be finite and ≥ 0 (got {w})"
                ))
            }
        };
        match self {
            Penalty::None => {}
            Penalty::Kl { rho, beta } => {
                check_rho(rho)?;
                weight("β", beta)?;
            }
            Penalty::L1 { lambda } => weight("λ", lambda)?,
        }
        Ok(self)
    }
}

/// `Σⱼ KL(ρ ‖ ρ̂ⱼ)` of given mean activations `ρ̂ⱼ` (clamped like [`kl_sparsity`]), in f64: the
/// penalty of a whole data set, from each unit's mean over all of its images.
///
/// ```
/// // One unit at ρ̂ = 0.1, one at ρ̂ = ρ: KL(ρ ‖ 0.1) + 0 (ρ is the f32 0.05, widened).
/// let rho = f64::from(0.05f32);
/// let kl = ch02_sparse::kl_of_means(0.05, &[0.1, rho]);
/// let hand = rho * (rho / 0.1).ln() + (1.0 - rho) * ((1.0 - rho) / 0.9).ln();
/// assert!((kl - hand).abs() < 1e-12, "{kl} vs {hand}");
/// ```
pub fn kl_of_means(rho: f32, means: &[f64]) -> f64 {
    let (rho, eps) = (rho as f64, RHO_HAT_EPSILON as f64);
    means
        .iter()
        .map(|&m| {
            let m = m.clamp(eps, 1.0 - eps);
            rho * (rho / m).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - m)).ln()
        })
        .sum()
}

/// Test metrics of a whole data set, without a tape: BCE per image (averaged over batches of
/// `batch_size`), and, from each unit's mean activation over *all* of `data`'s images, the KL
/// penalty for `rho` and the mean activation over units and images. Computing the KL per batch
/// and averaging would make it depend on the evaluation batch size; the formula's ρ̂ⱼ is a mean
/// over the set.
pub fn evaluate_set<D: Device<f32>>(
    model: &Model<D>,
    dev: &D,
    data: &Dataset,
    batch_size: usize,
    rho: f32,
) -> Metrics {
    let mut bce = |m: &Model<D>, batch: &Batch<D>| {
        let logits = m.1.forward(m.0.forward(batch.x.clone()));
        Metrics::loss_only(scalar_value(&bce_with_logits_per_image(logits, batch.x.clone())) as f64)
    };
    let loss = mean_metrics(model, dev, data, batch_size, &mut bce).loss;
    let means = unit_means(model, dev, data);
    Metrics {
        loss,
        parts: vec![
            ("kl".into(), kl_of_means(rho, &means)),
            (
                "mean_activation".into(),
                means.iter().sum::<f64>() / HIDDEN as f64,
            ),
        ],
    }
}

/// Trains the sparse autoencoder with `penalty`; the test metric is the reconstruction BCE per
/// image, with the KL (for `rho_report`) and the mean activation as parts.
pub fn train<D: Device<f32>>(
    dev: &D,
    data: &DataSplits,
    penalty: Penalty,
    rho_report: f32,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<(Model<D>, History)> {
    let penalty = penalty.validated().map_err(anyhow::Error::msg)?;
    check_rho(rho_report).map_err(anyhow::Error::msg)?;
    let mut model = SparseAutoencoder::build_on_device(dev);
    let history = fit_evaluating_sets(
        &mut model,
        dev,
        data,
        cfg,
        run,
        |m, batch, grads| sparse_loss(m, batch.x, grads, penalty),
        |m, set| evaluate_set(m, dev, set, cfg.eval_batch_size, rho_report),
    )?;
    Ok((model, history))
}

/// Each hidden unit's mean activation over all of `data`'s images.
pub fn unit_means<D: Device<f32>>(model: &Model<D>, dev: &D, data: &Dataset) -> Vec<f64> {
    let mut sums = vec![0.0f64; HIDDEN];
    for batch in ae_toolkit::batch::batches(dev, data, 1000, None) {
        let h = model.0.forward(batch.x).as_vec();
        for row in h.chunks(HIDDEN) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
    }
    sums.iter().map(|s| s / data.len() as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked values the book quotes (book/typed-numbers.toml): the clamped penalty of one
    /// unit is at most about 12.9 for ρ = 0.05 (ρ̂ⱼ = 1 − ε), about 0.49 at ρ̂ⱼ = ε, and a unit at
    /// ρ̂ⱼ = 0.5 costs 0.495; whatever ρ, one unit costs less than ln(1/ε) ≈ 13.8. The solutions
    /// page's exercise 5 (a unit at one half, B = 128): derivative 1.8 with respect to ρ̂ⱼ,
    /// 1.8/128 ≈ 0.014 with respect to each h_bj, and a penalty of about 594 for 400 such units
    /// with β = 3. Its exercise 6 (the affine map ρ̂ ↦ ε + (1 − 2ε)ρ̂ instead of the clamp): the
    /// derivative is about −ρ/ε = −5 × 10⁴ at ρ̂ⱼ = 0 and about (1 − ρ)/ε ≈ 10⁶ at ρ̂ⱼ = 1.
    #[test]
    fn the_books_worked_penalties() {
        let most = kl_of_means(0.05, &[1.0]);
        assert_eq!(format!("{most:.1}"), "12.9", "{most}");
        let least = kl_of_means(0.05, &[0.0]);
        assert_eq!(format!("{least:.2}"), "0.49", "{least}");
        let half = kl_of_means(0.05, &[0.5]);
        assert_eq!(format!("{half:.3}"), "0.495", "{half}");

        // KL(ρ ‖ ·) is convex, so on the clamped interval its largest value is at ρ̂ = ε or 1 − ε
        // (what 0 and 1 are clamped to); both stay below ln(1/ε) for every ρ.
        let bound = -(RHO_HAT_EPSILON as f64).ln();
        assert_eq!(format!("{bound:.1}"), "13.8", "{bound}");
        for rho in [1e-6f32, 0.001, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 0.999_999] {
            for edge in [0.0, 1.0] {
                let kl = kl_of_means(rho, &[edge]);
                assert!(kl < bound, "ρ = {rho}, ρ̂ = {edge}: {kl} ≥ {bound}");
            }
        }

        // Every activation of a batch of 128 at 0.5: the crate's penalty and its gradient.
        let (dev, batch) = (Cpu::default(), 128);
        let h = hidden(&dev, batch, |_, _| 0.5);
        let grad = kl_sparsity(h.leaky_trace(), RHO)
            .backward()
            .get(&h)
            .as_vec();
        // ∂/∂h_bj = (1/B) ∂/∂ρ̂ⱼ = (1/B) (−ρ/ρ̂ⱼ + (1 − ρ)/(1 − ρ̂ⱼ)) for every activation.
        let rho = f64::from(RHO);
        let closed = (-rho / 0.5 + (1.0 - rho) / 0.5) / batch as f64;
        assert!(grad.iter().all(|&g| (g as f64 - closed).abs() < 1e-7));
        let per_activation = grad[0] as f64;
        let per_mean = per_activation * batch as f64;
        assert_eq!(format!("{per_mean:.1}"), "1.8", "{per_mean}");
        assert_eq!(format!("{per_activation:.3}"), "0.014", "{per_activation}");
        let penalty = f64::from(kl_sparsity(h, RHO).array() * BETA);
        assert_eq!(format!("{penalty:.0}"), "594", "{penalty}");
        let by_means = f64::from(BETA) * kl_of_means(RHO, &[0.5; HIDDEN]);
        assert!(
            (penalty - by_means).abs() < 1e-5 * by_means,
            "{penalty} vs {by_means}"
        );

        // Exercise 6: the derivative of KL(ρ ‖ ε + (1 − 2ε)ρ̂) in ρ̂ at 0 and at 1, by one-sided
        // differences of the crate's KL (both points map inside its clamp).
        let eps = f64::from(RHO_HAT_EPSILON);
        let affine = |r: f64| kl_of_means(RHO, &[eps + (1.0 - 2.0 * eps) * r]);
        let step = 1e-10;
        let at_zero = (affine(step) - affine(0.0)) / step;
        let at_one = (affine(1.0) - affine(1.0 - step)) / step;
        let closed = |m: f64| (1.0 - 2.0 * eps) * (-rho / m + (1.0 - rho) / (1.0 - m));
        assert!(
            (at_zero - closed(eps)).abs() < 1e-3 * at_zero.abs(),
            "{at_zero}"
        );
        assert!(
            (at_one - closed(1.0 - eps)).abs() < 1e-3 * at_one,
            "{at_one}"
        );
        // −5 × 10⁴: negative, so descent raises the mean; 10⁶: positive, so descent lowers it.
        assert_eq!(format!("{:.0e}", at_zero), "-5e4", "{at_zero}");
        assert_eq!((at_one / 1e6).round(), 1.0, "{at_one}"); // 10⁶
        assert!(
            (at_one - (1.0 - rho) / eps).abs() < 1e-3 * at_one,
            "{at_one}"
        );
    }

    /// The formula, per unit, in f64.
    fn kl(rho: f64, rho_hat: f64) -> f64 {
        rho * (rho / rho_hat).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - rho_hat)).ln()
    }

    /// A batch of `rows` × 400 activations where unit j's column is `column(j)`.
    fn hidden(dev: &Cpu, rows: usize, value: impl Fn(usize, usize) -> f32) -> Hidden<Cpu> {
        let v = (0..rows * HIDDEN)
            .map(|i| value(i / HIDDEN, i % HIDDEN))
            .collect();
        dev.tensor_from_vec(v, (rows, Const::<HIDDEN>))
    }

    #[test]
    fn kl_is_zero_exactly_when_the_mean_activation_is_rho() {
        let dev = Cpu::default();
        // Rows 0.0 and 0.1 average to ρ̂ = 0.05 = ρ in every unit.
        let h = hidden(&dev, 2, |b, _| if b == 0 { 0.0 } else { 0.1 });
        assert!(kl_sparsity(h, 0.05).array().abs() < 1e-5);
        let h = hidden(&dev, 2, |_, _| 0.06);
        assert!(kl_sparsity(h, 0.05).array() > 0.0);
    }

    #[test]
    fn kl_matches_hand_values() {
        let dev = Cpu::default();
        // KL(0.05 ‖ 0.1) = 0.05 ln 0.5 + 0.95 ln(0.95/0.9) = 0.0167071… per unit; half the units
        // at ρ̂ = 0.1, the other half at ρ̂ = 0.5: KL(0.05 ‖ 0.5) = 0.05 ln 0.1 + 0.95 ln 1.9.
        let h = hidden(&dev, 2, |b, j| match (j % 2, b) {
            (0, 0) => 0.0,
            (0, _) => 0.2,
            (_, 0) => 0.3,
            _ => 0.7,
        });
        let per_unit_a = 0.05 * 0.5f64.ln() + 0.95 * (0.95f64 / 0.9).ln();
        let per_unit_b = 0.05 * 0.1f64.ln() + 0.95 * 1.9f64.ln();
        assert!((per_unit_a - 0.016_707_1).abs() < 1e-6);
        let want = 200.0 * (per_unit_a + per_unit_b);
        let got = kl_sparsity(h, 0.05).array() as f64;
        assert!((got - want).abs() < 1e-4 * want, "{got} vs {want}");
        assert!((want - 200.0 * (kl(0.05, 0.1) + kl(0.05, 0.5))).abs() < 1e-9);
    }

    #[test]
    fn kl_gradient_matches_finite_differences() {
        // ∂/∂h_bj of Σⱼ KL(ρ ‖ ρ̂ⱼ), with ρ̂ⱼ = (1/B) Σ_b h_bj, against central differences of
        // the f64 formula.
        let dev = Cpu::default();
        let (rows, rho) = (3usize, 0.05f64);
        let value = |b: usize, j: usize| 0.02 + 0.9 * (((b * 7 + j * 13) % 17) as f32 / 17.0);
        let h = hidden(&dev, rows, value);
        let g = kl_sparsity(h.leaky_trace(), rho as f32).backward();
        let grad = g.get(&h).as_vec();
        let total = |hv: &[f64]| -> f64 {
            (0..HIDDEN)
                .map(|j| {
                    kl(
                        rho,
                        (0..rows).map(|b| hv[b * HIDDEN + j]).sum::<f64>() / rows as f64,
                    )
                })
                .sum()
        };
        let base: Vec<f64> = h.as_vec().iter().map(|&v| v as f64).collect();
        for idx in [0, 5, HIDDEN + 17, 2 * HIDDEN + 399] {
            let step = 1e-6;
            let (mut up, mut down) = (base.clone(), base.clone());
            up[idx] += step;
            down[idx] -= step;
            let fd = (total(&up) - total(&down)) / (2.0 * step);
            assert!(
                (grad[idx] as f64 - fd).abs() < 1e-3 * fd.abs().max(1.0),
                "{idx}: {} vs {fd}",
                grad[idx]
            );
            // The closed form: (1/B) (−ρ/ρ̂ⱼ + (1 − ρ)/(1 − ρ̂ⱼ)).
            let j = idx % HIDDEN;
            let rho_hat = (0..rows).map(|b| base[b * HIDDEN + j]).sum::<f64>() / rows as f64;
            let closed = (-rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat)) / rows as f64;
            assert!(
                (closed - fd).abs() < 1e-4 * fd.abs().max(1.0),
                "{idx}: {closed} vs {fd}"
            );
        }
    }

    #[test]
    fn kl_stays_finite_for_saturated_units() {
        let dev = Cpu::default();
        for v in [0.0f32, 1.0] {
            let h = hidden(&dev, 4, |_, _| v);
            let g = kl_sparsity(h.leaky_trace(), 0.05).backward();
            let value = kl_sparsity(h.clone(), 0.05).array();
            assert!(value.is_finite() && value > 0.0, "ρ̂ = {v}: {value}");
            // Outside [ε, 1 − ε] the clamp's derivative is 0 (dfdx passes the gradient only for
            // inputs within its bounds): the penalty's gradient is finite and exactly zero.
            assert!(
                g.get(&h).as_vec().iter().all(|&x| x == 0.0),
                "ρ̂ = {v}: gradient {:?}",
                &g.get(&h).as_vec()[..4]
            );
            // Clamped at ε: the value is the formula at ρ̂ = ε or 1 − ε.
            let eps = RHO_HAT_EPSILON as f64;
            let want = HIDDEN as f64 * kl(0.05, if v == 0.0 { eps } else { 1.0 - eps });
            assert!(
                ((value as f64) - want).abs() < 1e-2 * want,
                "{value} vs {want}"
            );
        }
    }

    #[test]
    fn l1_activity_is_the_mean_total_activation() {
        let dev = Cpu::default();
        let h = hidden(&dev, 2, |b, _| if b == 0 { 0.25 } else { 0.75 });
        assert!((l1_activity(h).array() - 200.0).abs() < 1e-3); // (100 + 300) / 2
    }

    #[test]
    fn l1_gradient_is_lambda_over_b_and_fades_through_the_sigmoid() {
        // ∂(λ · l1)/∂h_bj = λ/B for every unit, image and level of activity.
        let dev = Cpu::seed_from_u64(2);
        let (rows, lambda) = (3usize, 0.7f32);
        let h = hidden(&dev, rows, |b, j| {
            0.01 + 0.98 * (((b * 5 + j * 11) % 13) as f32 / 12.0)
        });
        let g = (l1_activity(h.leaky_trace()) * lambda).backward();
        let want = lambda / rows as f32;
        assert!(
            g.get(&h).as_vec().iter().all(|&v| (v - want).abs() < 1e-7),
            "not λ/B = {want} everywhere"
        );
        // In the training objective, through the encoder's sigmoid: the push on unit j's input
        // a_bj is (λ/B) h_bj (1 − h_bj), so the L1 term adds Σ_b of it to the gradient of b₁ⱼ.
        let model = dev.build_module::<SparseAutoencoder, f32>();
        let x = dev.tensor_from_vec(
            ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
                .train
                .head(rows)
                .images,
            (rows, Const::<784>),
        );
        let bias_grad = |penalty| {
            let mut m = model.clone();
            let grads = m.alloc_grads();
            let g = sparse_loss(&mut m, x.clone(), grads, penalty).backward();
            g.get(&m.0 .0.bias).as_vec()
        };
        let with_l1 = bias_grad(Penalty::L1 { lambda });
        let without = bias_grad(Penalty::None);
        let act = model.0.forward(x.clone()).as_vec();
        for j in 0..HIDDEN {
            let want: f64 = (0..rows)
                .map(|b| {
                    let h = act[b * HIDDEN + j] as f64;
                    lambda as f64 / rows as f64 * h * (1.0 - h)
                })
                .sum();
            let got = (with_l1[j] - without[j]) as f64;
            assert!(
                (got - want).abs() < 1e-5 * (1.0 + without[j].abs() as f64),
                "unit {j}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn the_penalty_and_the_reconstruction_share_one_tape() {
        // The gradient of BCE + β·KL equals the sum of the two gradients taken separately:
        // `with_empty_tape` neither drops nor double-counts a branch.
        let dev = Cpu::seed_from_u64(1);
        let model = dev.build_module::<SparseAutoencoder, f32>();
        let x = dev.tensor_from_vec(
            ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
                .train
                .head(8)
                .images,
            (8, Const::<784>),
        );
        let beta = 3.0;
        let weight_grad = |penalty: Penalty, part: &str| {
            let mut m = model.clone();
            let grads = m.alloc_grads();
            let loss = match part {
                "total" => sparse_loss(&mut m, x.clone(), grads, penalty),
                "bce" => sparse_loss(&mut m, x.clone(), grads, Penalty::None),
                _ => kl_sparsity(m.0.forward_mut(x.clone().traced(grads)), 0.05) * beta,
            };
            let g = loss.backward();
            g.get(&m.0 .0.weight).as_vec()
        };
        let total = weight_grad(Penalty::Kl { rho: 0.05, beta }, "total");
        let bce = weight_grad(Penalty::None, "bce");
        let kl = weight_grad(Penalty::None, "kl");
        assert!(
            kl.iter().any(|v| v.abs() > 1e-4),
            "the KL term has a gradient"
        );
        for ((t, b), k) in total.iter().zip(&bce).zip(&kl) {
            assert!(
                (t - (b + k)).abs() <= 1e-4 * (1.0 + t.abs()),
                "{t} vs {b} + {k}"
            );
        }
    }

    #[test]
    fn training_with_rho_outside_the_open_unit_interval_is_refused() {
        let dev = Cpu::seed_from_u64(0);
        let full = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist);
        let data = DataSplits {
            train: full.train.head(20),
            test: full.test.head(10),
            ..full
        };
        let cfg = TrainConfig::adam(1, 10);
        for rho in [0.0, 1.0, -0.5, f32::NAN] {
            let penalty = Penalty::Kl { rho, beta: 3.0 };
            let err = train(&dev, &data, penalty, 0.05, &cfg, &RunOptions::default())
                .expect_err("ρ outside (0, 1) must be refused");
            assert!(err.to_string().contains("between 0 and 1"), "{err}");
            let err = train(
                &dev,
                &data,
                Penalty::None,
                rho,
                &cfg,
                &RunOptions::default(),
            )
            .expect_err("a reported ρ outside (0, 1) must be refused");
            assert!(err.to_string().contains("between 0 and 1"), "{err}");
        }
        let negative = Penalty::L1 { lambda: -1.0 };
        assert!(negative.validated().is_err());
    }

    #[test]
    fn the_evaluated_kl_is_that_of_the_whole_sets_mean_activations() {
        // The formula's ρ̂ⱼ is unit j's mean over the evaluated set: the KL must not depend on the
        // evaluation batch size, and must equal the penalty of the whole set taken as one batch.
        let dev = Cpu::seed_from_u64(3);
        let model = dev.build_module::<SparseAutoencoder, f32>();
        let test = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
            .test
            .head(300);
        let kl_of = |batch_size| evaluate_set(&model, &dev, &test, batch_size, 0.05).parts[0].1;
        let whole = dev.tensor_from_vec(test.images.clone(), (300, Const::<784>));
        let one_batch = kl_sparsity(model.0.forward(whole), 0.05).array() as f64;
        for batch_size in [7, 64, 300, 1000] {
            let kl = kl_of(batch_size);
            assert!(
                (kl - one_batch).abs() < 1e-4 * one_batch,
                "batch size {batch_size}: {kl} vs {one_batch}"
            );
        }
    }
}
