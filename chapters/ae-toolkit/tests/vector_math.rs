//! The vectorised `exp` and `ln` of the project's patched dfdx (vendor/README.md, "Vectorised exp and ln")
//! against `f64` on a dense grid, through the tensor ops the chapters call: `exp`, `ln`,
//! `sigmoid` and `bce_with_logits`. The bounds are the errors stated in vendor/README.md; the
//! special values must behave as libm's, since a NaN that turned into a number would slip past
//! the training loop's non-finite-loss check.

use ae_toolkit::dfdx::prelude::*;

/// Distance in units in the last place between `got` and the correctly rounded `want`.
fn ulps(got: f32, want: f64) -> f64 {
    let w = want as f32;
    let ulp = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
    (got as f64 - want).abs() / ulp
}

/// `n` evenly spaced points from `lo` to `hi`.
fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
        .collect()
}

fn apply(
    xs: &[f32],
    op: impl Fn(Tensor<(usize,), f32, Cpu>) -> Tensor<(usize,), f32, Cpu>,
) -> Vec<f32> {
    let dev = Cpu::default();
    op(dev.tensor_from_vec(xs.to_vec(), (xs.len(),))).as_vec()
}

fn max_ulps(xs: &[f32], got: &[f32], want: impl Fn(f64) -> f64) -> f64 {
    xs.iter()
        .zip(got)
        .map(|(&x, &g)| ulps(g, want(x as f64)))
        .fold(0.0, f64::max)
}

const N: usize = 1 << 20;

#[test]
fn exp_is_within_two_ulps_of_f64_where_the_result_is_normal() {
    let xs = grid(-87.3, 88.7, N);
    let worst = max_ulps(&xs, &apply(&xs, |t| t.exp()), f64::exp);
    assert!(worst <= 2.0, "exp: {worst} ulps");
}

#[test]
fn ln_is_within_two_ulps_of_f64_over_many_octaves() {
    let mut xs = grid(1e-6, 4.0, N / 2);
    xs.extend(grid(4.0, 1e30, N / 2));
    xs.extend([f32::MIN_POSITIVE, 1e-40, 1.0, f32::MAX]);
    let worst = max_ulps(&xs, &apply(&xs, |t| t.ln()), f64::ln);
    assert!(worst <= 2.0, "ln: {worst} ulps");
}

#[test]
fn sigmoid_and_bce_with_logits_agree_with_f64_formulas() {
    let xs = grid(-30.0, 30.0, N);
    let sigmoid = apply(&xs, |t| t.sigmoid());
    let worst = max_ulps(&xs, &sigmoid, |x| 1.0 / (1.0 + (-x).exp()));
    assert!(worst <= 4.0, "sigmoid: {worst} ulps");

    let dev = Cpu::default();
    let target = 0.3f32;
    let logits = dev.tensor_from_vec(xs.clone(), (xs.len(),));
    let targets = dev.tensor_from_vec(vec![target; xs.len()], (xs.len(),));
    let bce = logits.bce_with_logits(targets).as_vec();
    // Absolute error: the loss passes through 0-crossing-free but small values near the
    // minimum, where a relative measure says little.
    let worst = xs
        .iter()
        .zip(&bce)
        .map(|(&x, &b)| {
            let x = x as f64;
            let want = x.max(0.0) - x * target as f64 + (1.0 + (-x.abs()).exp()).ln();
            (b as f64 - want).abs() / want.abs().max(1.0)
        })
        .fold(0.0, f64::max);
    assert!(worst < 4.0 * f32::EPSILON as f64, "bce: {worst}");
}

#[test]
fn special_values_behave_as_libm() {
    let xs = [
        f32::NAN,
        f32::NEG_INFINITY,
        f32::INFINITY,
        -100.0,
        100.0,
        0.0,
    ];
    let e = apply(&xs, |t| t.exp());
    assert!(e[0].is_nan());
    assert_eq!(&e[1..], &[0.0, f32::INFINITY, 0.0, f32::INFINITY, 1.0]);

    let xs = [f32::NAN, -1.0, 0.0, f32::INFINITY, 1.0];
    let l = apply(&xs, |t| t.ln());
    assert!(l[0].is_nan() && l[1].is_nan());
    assert_eq!(&l[2..], &[f32::NEG_INFINITY, f32::INFINITY, 0.0]);

    let s = apply(&[f32::NAN, -200.0, 200.0], |t| t.sigmoid());
    assert!(s[0].is_nan());
    assert_eq!(&s[1..], &[0.0, 1.0]);
}
