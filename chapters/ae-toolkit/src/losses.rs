//! Reconstruction losses, computed stably from the decoder's logits.
//!
//! Every model in the book ends its decoder with a `Linear` layer producing logits `z`; the image
//! it reconstructs is `σ(z)` (or `z` itself for a linear output). Taking the sigmoid inside the
//! loss lets binary cross-entropy use the stable form `max(z,0) − z·x + ln(1 + e^{−|z|})`, which
//! never evaluates `ln 0`.
//!
//! ```
//! use ae_toolkit::losses::{bce_with_logits_per_image, mse_per_pixel};
//! use dfdx::prelude::*;
//! let dev = Cpu::default();
//! // One image of three pixels; logits z = 0 reconstruct σ(0) = 0.5 everywhere.
//! let z = dev.tensor_from_vec(vec![0.0f32; 3], (1, Const::<3>));
//! let x = dev.tensor_from_vec(vec![0.0f32, 1.0, 0.5], (1, Const::<3>));
//! // Each pixel costs ln 2 whatever its target, and BCE sums the pixels of an image.
//! let bce = bce_with_logits_per_image(z.clone(), x.clone()).array();
//! assert!((bce - 3.0 * std::f32::consts::LN_2).abs() < 1e-6);
//! // MSE averages (x̂ − x)² over the pixels: (0.25 + 0.25 + 0) / 3.
//! let mse = mse_per_pixel(z.sigmoid(), x).array();
//! assert!((mse - 0.5 / 3.0).abs() < 1e-6);
//! // A confidently wrong logit: in f32, σ(100) = 1 and ln(1 − σ) = −∞, but the stable form
//! // gives the exact loss 100 + ln(1 + e⁻¹⁰⁰) ≈ 100.
//! let z = dev.tensor_from_vec(vec![100.0f32], (1, Const::<1>));
//! let x = dev.tensor_from_vec(vec![0.0f32], (1, Const::<1>));
//! assert_eq!(bce_with_logits_per_image(z, x).array(), 100.0);
//! ```

use dfdx::prelude::*;

// ANCHOR: bce_with_logits
/// Binary cross-entropy summed over the `N` pixels of each image, averaged over the batch:
/// `−Σᵢ [xᵢ ln σ(zᵢ) + (1 − xᵢ) ln(1 − σ(zᵢ))]`, computed from logits `z`.
pub fn bce_with_logits_per_image<const N: usize, D: Device<f32>, T: Tape<f32, D>>(
    logits: Tensor<(usize, Const<N>), f32, D, T>,
    target: Tensor<(usize, Const<N>), f32, D>,
) -> Tensor<Rank0, f32, D, T> {
    logits.bce_with_logits(target).sum::<(usize,), _>().mean()
}
// ANCHOR_END: bce_with_logits

/// Binary cross-entropy averaged over every pixel of the batch (Keras' `binary_crossentropy`):
/// the per-image value divided by `N`.
///
/// ```
/// use ae_toolkit::losses::{bce_with_logits_per_image, bce_with_logits_per_pixel, scalar_value};
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let z: Tensor<(usize, Const<784>), f32, Cpu> = dev.sample_normal_like(&(4, Const));
/// let x: Tensor<(usize, Const<784>), f32, Cpu> = dev.sample_uniform_like(&(4, Const));
/// let per_pixel = scalar_value(&bce_with_logits_per_pixel(z.clone(), x.clone()));
/// let per_image = scalar_value(&bce_with_logits_per_image(z, x));
/// assert!((per_image - 784.0 * per_pixel).abs() < 1e-4 * per_image);
/// ```
pub fn bce_with_logits_per_pixel<const N: usize, D: Device<f32>, T: Tape<f32, D>>(
    logits: Tensor<(usize, Const<N>), f32, D, T>,
    target: Tensor<(usize, Const<N>), f32, D>,
) -> Tensor<Rank0, f32, D, T> {
    logits.bce_with_logits(target).mean()
}

// ANCHOR: mse
/// Mean squared error averaged over every pixel of the batch: `(1/(B·N)) Σ (x̂ − x)²`.
pub fn mse_per_pixel<const N: usize, D: Device<f32>, T: Tape<f32, D>>(
    reconstruction: Tensor<(usize, Const<N>), f32, D, T>,
    target: Tensor<(usize, Const<N>), f32, D>,
) -> Tensor<Rank0, f32, D, T> {
    (reconstruction - target).square().mean()
}
// ANCHOR_END: mse

/// The value of a scalar tensor on any device (dfdx's `array()` needs a concrete device).
///
/// ```
/// use dfdx::prelude::*;
/// let dev = Cpu::default();
/// assert_eq!(ae_toolkit::losses::scalar_value(&dev.tensor(2.5f32)), 2.5);
/// ```
pub fn scalar_value<D: Device<f32>, T>(t: &Tensor<Rank0, f32, D, T>) -> f32 {
    t.as_vec()[0]
}

/// Which reconstruction loss a model trains with, and how its logits become an image.
///
/// ```
/// use ae_toolkit::losses::ReconstructionLoss;
/// use dfdx::prelude::*;
/// let dev = Cpu::default();
/// // A target in [−1, 1] (pixels after `to_symmetric_range`): only a linear output reaches −1.
/// let x = dev.tensor_from_vec(vec![-1.0f32, 1.0], (1, Const::<2>));
/// let logits = x.clone(); // the best the decoder can do
/// assert_eq!(ReconstructionLoss::LinearMse.loss(logits.clone(), x.clone()).array(), 0.0);
/// assert!(ReconstructionLoss::SigmoidMse.loss(logits, x).array() > 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ReconstructionLoss {
    /// Sigmoid output, BCE summed per image (averaged over the batch).
    BcePerImage,
    /// Sigmoid output, BCE averaged per pixel.
    BcePerPixel,
    /// Sigmoid output, MSE per pixel.
    SigmoidMse,
    /// Linear output (for data in `[−1, 1]`), MSE per pixel.
    LinearMse,
}

impl ReconstructionLoss {
    /// The loss of a batch of logits against the clean target images.
    ///
    /// ```
    /// use ae_toolkit::losses::ReconstructionLoss;
    /// use dfdx::prelude::*;
    /// let dev = Cpu::default();
    /// let logits = dev.tensor_from_vec(vec![0.0f32; 4], (2, Const::<2>));
    /// let target = dev.tensor_from_vec(vec![0.5f32; 4], (2, Const::<2>));
    /// // σ(0) = 0.5 on every pixel: BCE = ln 2 per pixel, MSE = 0.
    /// let ln2 = std::f32::consts::LN_2;
    /// assert!((ReconstructionLoss::BcePerImage.loss(logits.clone(), target.clone()).array() - 2.0 * ln2).abs() < 1e-6);
    /// assert!((ReconstructionLoss::BcePerPixel.loss(logits.clone(), target.clone()).array() - ln2).abs() < 1e-6);
    /// assert_eq!(ReconstructionLoss::SigmoidMse.loss(logits, target).array(), 0.0);
    /// ```
    pub fn loss<const N: usize, D: Device<f32>, T: Tape<f32, D>>(
        self,
        logits: Tensor<(usize, Const<N>), f32, D, T>,
        target: Tensor<(usize, Const<N>), f32, D>,
    ) -> Tensor<Rank0, f32, D, T> {
        match self {
            ReconstructionLoss::BcePerImage => bce_with_logits_per_image(logits, target),
            ReconstructionLoss::BcePerPixel => bce_with_logits_per_pixel(logits, target),
            ReconstructionLoss::SigmoidMse => mse_per_pixel(logits.sigmoid(), target),
            ReconstructionLoss::LinearMse => mse_per_pixel(logits, target),
        }
    }

    /// The reconstructed image the logits stand for.
    ///
    /// ```
    /// use ae_toolkit::losses::ReconstructionLoss;
    /// use dfdx::prelude::*;
    /// let dev = Cpu::default();
    /// let z = dev.tensor_from_vec(vec![0.0f32, 2.0], (1, Const::<2>));
    /// assert_eq!(ReconstructionLoss::LinearMse.output(z.clone()).as_vec(), vec![0.0, 2.0]);
    /// assert_eq!(ReconstructionLoss::BcePerImage.output(z).as_vec()[0], 0.5);
    /// ```
    pub fn output<const N: usize, D: Device<f32>, T: Tape<f32, D>>(
        self,
        logits: Tensor<(usize, Const<N>), f32, D, T>,
    ) -> Tensor<(usize, Const<N>), f32, D, T> {
        match self {
            ReconstructionLoss::LinearMse => logits,
            _ => logits.sigmoid(),
        }
    }

    /// A short name with its unit, for tables and plot labels.
    ///
    /// ```
    /// assert_eq!(ae_toolkit::losses::ReconstructionLoss::BcePerImage.unit(), "BCE per image");
    /// ```
    pub fn unit(self) -> &'static str {
        match self {
            ReconstructionLoss::BcePerImage => "BCE per image",
            ReconstructionLoss::BcePerPixel => "BCE per pixel",
            ReconstructionLoss::SigmoidMse | ReconstructionLoss::LinearMse => "MSE per pixel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigmoid(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    /// The textbook formula, evaluated naively in f64: −[x ln x̂ + (1 − x) ln(1 − x̂)].
    fn bce_naive(z: f64, x: f64) -> f64 {
        let p = sigmoid(z);
        -(x * p.ln() + (1.0 - x) * (1.0 - p).ln())
    }

    fn t(dev: &Cpu, v: &[f32], cols: usize) -> Tensor<(usize, Const<3>), f32, Cpu> {
        assert_eq!(cols, 3);
        dev.tensor_from_vec(v.to_vec(), (v.len() / 3, Const::<3>))
    }

    #[test]
    fn bce_per_image_matches_hand_values() {
        let dev = Cpu::default();
        // Image 1: z = (0, 0, 0), x = (0, 1, 0.5): each pixel costs ln 2.
        // Image 2: z = (ln 3, −ln 3, 0), x = (1, 0, 1): σ(ln 3) = 3/4, so ln(4/3) + ln(4/3) + ln 2.
        let l3 = 3f32.ln();
        let z = t(&dev, &[0.0, 0.0, 0.0, l3, -l3, 0.0], 3);
        let x = t(&dev, &[0.0, 1.0, 0.5, 1.0, 0.0, 1.0], 3);
        let img1 = 3.0 * 2f64.ln();
        let img2 = 2.0 * (4.0f64 / 3.0).ln() + 2f64.ln();
        let got = bce_with_logits_per_image(z.clone(), x.clone()).array() as f64;
        assert!((got - (img1 + img2) / 2.0).abs() < 1e-6, "{got}");
        let per_pixel = bce_with_logits_per_pixel(z, x).array() as f64;
        assert!(
            (per_pixel - (img1 + img2) / 6.0).abs() < 1e-6,
            "{per_pixel}"
        );
    }

    #[test]
    fn stable_bce_equals_sigmoid_then_bce_where_both_are_finite() {
        let dev = Cpu::default();
        // Up to |z| = 16, σ(z) and 1 − σ(z) are accurate in f64, so the naive form is a fair reference.
        let zs = [-16.0f32, -8.0, -1.5, -0.1, 0.0, 0.3, 2.0, 9.0, 16.0];
        let xs = [0.0f32, 0.2, 0.5, 0.9, 1.0];
        for &z in &zs {
            for &x in &xs {
                let naive = bce_naive(z as f64, x as f64);
                let zt = dev.tensor_from_vec(vec![z; 3], (1, Const::<3>));
                let xt = dev.tensor_from_vec(vec![x; 3], (1, Const::<3>));
                let stable = bce_with_logits_per_image(zt, xt).array() as f64 / 3.0;
                assert!(stable.is_finite());
                if naive.is_finite() {
                    let tol = 1e-5 * naive.abs().max(1.0);
                    assert!(
                        (stable - naive).abs() < tol,
                        "z={z} x={x}: {stable} vs {naive}"
                    );
                }
            }
        }
        // Beyond that the naive form degrades even in f64: at z = 30, 1 − σ(z) ≈ 9.4e−14 keeps only
        // a few digits, and the naive loss for x = 0 is off by 1e−3, while the stable one is exact.
        let exact = 30.0 + (-30.0f64).exp().ln_1p();
        assert!((bce_naive(30.0, 0.0) - exact).abs() > 1e-4);
        let z = dev.tensor_from_vec(vec![30.0f32; 3], (1, Const::<3>));
        let x = dev.tensor_from_vec(vec![0.0f32; 3], (1, Const::<3>));
        assert!((bce_with_logits_per_image(z, x).array() as f64 / 3.0 - exact).abs() < 1e-5);
        // And in f32, σ(40) rounds to 1 so ln(1 − σ) = −∞: the naive loss is infinite for any
        // target x < 1 (the (1 − x) ln(1 − σ) term); the stable form still gives
        // 40·(1 − x) + ln(1 + e^{−40}) ≈ 40 for x = 0.
        let sigmoid_f32 = |z: f32| 1.0 / (1.0 + (-z).exp());
        assert_eq!(sigmoid_f32(40.0), 1.0);
        for x in [0.0f32, 0.5, 0.9] {
            let p = sigmoid_f32(40.0);
            let naive = -(x * p.ln() + (1.0 - x) * (1.0 - p).ln());
            assert_eq!(naive, f32::INFINITY, "x = {x}");
        }
        let z = dev.tensor_from_vec(vec![40.0f32; 3], (1, Const::<3>));
        let x = dev.tensor_from_vec(vec![0.0f32; 3], (1, Const::<3>));
        let v = bce_with_logits_per_image(z, x).array();
        assert!((v / 3.0 - 40.0).abs() < 1e-4, "{v}");
    }

    #[test]
    fn mse_matches_hand_values() {
        let dev = Cpu::default();
        let a = t(&dev, &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], 3);
        let b = t(&dev, &[1.0, 0.0, 0.0, 0.5, 0.0, 1.0], 3);
        // (0 + 4 + 9 + 0.25 + 0 + 1) / 6
        assert!((mse_per_pixel(a, b).array() - 14.25 / 6.0).abs() < 1e-6);
    }

    #[test]
    fn bce_gradient_is_sigmoid_minus_target() {
        // d/dz of the per-image BCE averaged over a batch of B is (σ(z) − x)/B.
        let dev = Cpu::default();
        let z = dev.tensor_from_vec(vec![-2.0f32, 0.5, 3.0, 1.0, -1.0, 0.0], (2, Const::<3>));
        let x = dev.tensor_from_vec(vec![0.0f32, 1.0, 0.3, 0.9, 0.1, 0.5], (2, Const::<3>));
        let g = bce_with_logits_per_image(z.leaky_trace(), x.clone()).backward();
        let grad = g.get(&z).as_vec();
        for ((gi, zi), xi) in grad.iter().zip(z.as_vec()).zip(x.as_vec()) {
            let want = (sigmoid(zi as f64) - xi as f64) / 2.0;
            assert!((*gi as f64 - want).abs() < 1e-6, "{gi} vs {want}");
        }
    }

    /// A batch of one image whose pixels are `v`, as a `(1, N)` tensor.
    fn row<const N: usize>(dev: &Cpu, v: [f32; N]) -> Tensor<(usize, Const<N>), f32, Cpu> {
        dev.tensor_from_vec(v.to_vec(), (1, Const::<N>))
    }

    /// The introduction's derivative of BCE with respect to the reconstruction,
    /// ∂ℓ/∂x̂ = −x/x̂ + (1 − x)/(1 − x̂): dfdx's backward through the stable loss, fed the logit
    /// z = ln x̂ − ln(1 − x̂) so that σ(z) = x̂, against the formula. It vanishes at x̂ = x.
    #[test]
    fn bce_derivative_in_the_reconstruction_is_the_books_formula() {
        let dev = Cpu::default();
        let derivative = |x: f64, p: f64| -x / p + (1.0 - x) / (1.0 - p);
        let x_hat = [0.05f32, 0.2, 0.5, 0.8, 0.97];
        for x in [0.0f32, 0.3, 0.6, 1.0] {
            let p = row(&dev, x_hat);
            let traced = p.leaky_trace();
            let logit = traced.with_empty_tape().ln() - (traced.negate() + 1.0).ln();
            let g = bce_with_logits_per_image(logit, row(&dev, [x; 5])).backward();
            for (&got, &ph) in g.get(&p).as_vec().iter().zip(&x_hat) {
                let want = derivative(x as f64, ph as f64);
                assert!(
                    (got as f64 - want).abs() < 1e-4 * want.abs().max(1.0),
                    "x = {x}, x̂ = {ph}: {got} vs {want}"
                );
            }
        }
        // At x̂ = x the derivative is zero.
        let x = [0.1f32, 0.3, 0.5, 0.77, 0.95];
        let p = row(&dev, x);
        let traced = p.leaky_trace();
        let logit = traced.with_empty_tape().ln() - (traced.negate() + 1.0).ln();
        let g = bce_with_logits_per_image(logit, row(&dev, x)).backward();
        let at_target = g.get(&p).as_vec();
        assert!(at_target.iter().all(|d| d.abs() < 1e-4), "{at_target:?}");
    }

    /// The introduction's floor: as a function of x̂ the BCE of a pixel is smallest at x̂ = x, where
    /// it equals the binary entropy H(x) = −[x ln x + (1 − x) ln(1 − x)] (ln 2 for mid-grey).
    #[test]
    fn bce_is_smallest_at_the_target_where_it_is_the_targets_entropy() {
        let dev = Cpu::default();
        let entropy = |x: f64| -(x * x.ln() + (1.0 - x) * (1.0 - x).ln());
        let per_pixel = |z: f64, x: f64| {
            let zt = row(&dev, [z as f32]);
            bce_with_logits_per_image(zt, row(&dev, [x as f32])).array() as f64
        };
        for x in [0.1f32, 0.3, 0.5, 0.77, 0.95] {
            let x = x as f64;
            let z = (x / (1.0 - x)).ln(); // σ(z) = x
            let floor = per_pixel(z, x);
            assert!(
                (floor - entropy(x)).abs() < 1e-6,
                "x = {x}: {floor} vs H(x) = {}",
                entropy(x)
            );
            // Any other reconstruction costs more, on either side.
            for dz in [-2.0, -0.3, -0.05, 0.05, 0.3, 2.0] {
                let other = per_pixel(z + dz, x);
                assert!(other > floor, "x = {x}, z + {dz}: {other} ≤ {floor}");
            }
        }
        assert!((per_pixel(0.0, 0.5) - std::f64::consts::LN_2).abs() < 1e-6);
    }

    /// The introduction's comparison: MSE after a sigmoid has gradient 2(σ(z) − x)σ(z)(1 − σ(z))
    /// with respect to the logit (per element; `mse_per_pixel` averages over the B·N pixels, so
    /// dfdx's gradient is that over B·N), which fades where the sigmoid saturates, while BCE's,
    /// σ(z) − x, does not.
    #[test]
    fn mse_after_a_sigmoid_has_the_books_gradient() {
        let dev = Cpu::default();
        let zv = [-3.0f32, -0.5, 0.0, 1.2, 4.0, -1.0, 2.5, 0.3];
        let xv = [0.0f32, 1.0, 0.5, 0.2, 0.9, 0.7, 0.0, 1.0];
        let z = dev.tensor_from_vec(zv.to_vec(), (2, Const::<4>));
        let x = dev.tensor_from_vec(xv.to_vec(), (2, Const::<4>));
        let g = mse_per_pixel(z.leaky_trace().sigmoid(), x).backward();
        for ((&got, &zi), &xi) in g.get(&z).as_vec().iter().zip(&zv).zip(&xv) {
            let s = sigmoid(zi as f64);
            let want = 2.0 * (s - xi as f64) * s * (1.0 - s) / 8.0;
            assert!(
                (got as f64 - want).abs() < 1e-7,
                "z = {zi}, x = {xi}: {got} vs {want}"
            );
        }
        // A completely wrong, saturated pixel: σ(10) ≈ 1 against x = 0.
        let wrong = |loss: ReconstructionLoss| {
            let z = row(&dev, [10.0f32]);
            let g = loss.loss(z.leaky_trace(), row(&dev, [0.0])).backward();
            g.get(&z).as_vec()[0] as f64
        };
        let s = sigmoid(10.0);
        let mse = wrong(ReconstructionLoss::SigmoidMse);
        // (1 − σ) of an f32 σ near 1 keeps only about three digits.
        let want = 2.0 * s * s * (1.0 - s);
        assert!((mse - want).abs() < 1e-2 * want, "{mse} vs {want}");
        assert!(mse < 1e-4, "{mse}");
        let bce = wrong(ReconstructionLoss::BcePerImage);
        assert!((bce - s).abs() < 1e-6, "{bce}");
    }

    /// The introduction's numbers for the naive route: in f32, σ(z) (dfdx's, which the models'
    /// `output` uses) is exactly 1 once z exceeds about 17, so ln(1 − σ) = −∞, the loss is infinite
    /// and its gradient NaN; below about −88, e^{−z} overflows and σ(z) = 0. The stable loss stays
    /// finite at both ends, with gradient σ(z) − x.
    #[test]
    fn sigmoid_rounds_to_one_above_about_17_in_f32() {
        let dev = Cpu::default();
        let out = |z: f32| {
            ReconstructionLoss::BcePerImage
                .output(row(&dev, [z]))
                .as_vec()[0]
        };
        assert!(out(16.0) < 1.0, "{}", out(16.0));
        assert_eq!(out(17.0), 1.0);
        // Where it starts: the first point of a 0.01 grid with σ = 1 is about 17, and σ stays 1.
        let first = (1600..1800)
            .map(|i| i as f32 / 100.0)
            .find(|&z| out(z) == 1.0)
            .unwrap();
        assert_eq!(first.round(), 17.0, "{first}");
        assert!((17..=200).all(|z| out(z as f32) == 1.0));
        // At the other end: e^{88} is finite, e^{89} overflows.
        assert!(out(-88.0) > 0.0, "{}", out(-88.0));
        assert_eq!(out(-89.0), 0.0);
        // The naive loss, −[x ln σ + (1 − x) ln(1 − σ)], for x = 0 at z = 17: infinite, NaN gradient.
        let z = row(&dev, [17.0f32]);
        let naive = (z.leaky_trace().sigmoid().negate() + 1.0)
            .ln()
            .negate()
            .sum::<Rank0, _>();
        assert_eq!(naive.array(), f32::INFINITY);
        let g = naive.backward();
        assert!(g.get(&z).as_vec()[0].is_nan(), "{:?}", g.get(&z).as_vec());
        // The stable loss: finite, and its gradient is σ(z) − x.
        for (z, x) in [(17.0f32, 0.0f32), (-89.0, 1.0)] {
            let zt = row(&dev, [z]);
            let loss = bce_with_logits_per_image(zt.leaky_trace(), row(&dev, [x]));
            let want = (z as f64).abs(); // |z| + ln(1 + e^{−|z|}), and e^{−|z|} < 10⁻⁷
            assert!((loss.array() as f64 - want).abs() < 1e-5, "z = {z}");
            let g = loss.backward().get(&zt).as_vec()[0] as f64;
            assert!(
                (g - (sigmoid(z as f64) - x as f64)).abs() < 1e-6,
                "z = {z}: {g}"
            );
        }
    }

    /// The introduction's pitfall: against a target of −1 (data in [−1, 1]) the BCE of a pixel is
    /// ln x̂ − 2 ln(1 − x̂), which falls without bound as x̂ → 0; its gradient σ(z) + 1 is always
    /// positive, so gradient descent lowers the logit for ever.
    #[test]
    fn bce_against_a_target_of_minus_one_is_unbounded_below() {
        let dev = Cpu::default();
        let zs = [-40.0f32, -20.0, -5.0, -1.0, 0.0, 0.7, 3.0, 12.0];
        // One pixel, one image: the crate's loss is the pixel's.
        let loss = |z: f32| bce_with_logits_per_image(row(&dev, [z]), row(&dev, [-1.0])).array();
        for &zi in &zs {
            // ln x̂ − 2 ln(1 − x̂) with x̂ = σ(z), in f64 (exact enough for |z| ≤ 40).
            let p = sigmoid(zi as f64);
            let want = p.ln() - 2.0 * (1.0 - p).ln();
            let got = loss(zi) as f64;
            assert!(
                (got - want).abs() < 1e-5 * want.abs().max(1.0),
                "z = {zi}: {got} vs {want}"
            );
        }
        // It goes down as x̂ → 0, past any bound.
        assert!(loss(-10.0) < loss(-1.0) && loss(-100.0) < loss(-10.0));
        assert!(loss(-100.0) < -99.0, "{}", loss(-100.0));
        // Its gradient: one image per logit, so each gets (σ(z) + 1)/B.
        let z = dev.tensor_from_vec(zs.to_vec(), (zs.len(), Const::<1>));
        let x = dev.tensor_from_vec(vec![-1.0f32; zs.len()], (zs.len(), Const::<1>));
        let g = bce_with_logits_per_image(z.leaky_trace(), x).backward();
        for (&gi, &zi) in g.get(&z).as_vec().iter().zip(&zs) {
            let want = (sigmoid(zi as f64) + 1.0) / zs.len() as f64;
            assert!((gi as f64 - want).abs() < 1e-6, "z = {zi}: {gi} vs {want}");
            assert!(gi > 0.0);
        }
    }
}
