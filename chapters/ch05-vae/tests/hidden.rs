//! Hidden tests for the course assignment (`cargo xtask assignment`): kept out of student copies.

use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::model::Codes;
use ch05_vae::{kl_to_standard_normal, log_mean_exp, reparameterize};

fn codes<const Z: usize>(dev: &Cpu, v: &[f32]) -> Codes<Z, Cpu> {
    dev.tensor_from_vec(v.to_vec(), (v.len() / Z, Const::<Z>))
}

#[test]
fn kl_matches_other_hand_values_and_gradient() {
    let dev = Cpu::default();
    // μ = (2, 0), σ² = (1, e): −½[(1 + 0 − 4 − 1) + (1 + 1 − 0 − e)] = ½(4 + e − 2) = 1 + e/2.
    let mu = codes::<2>(&dev, &[2.0, 0.0]);
    let lv = codes::<2>(&dev, &[0.0, 1.0]);
    let got = kl_to_standard_normal(mu.clone(), lv.clone()).array() as f64;
    let want = 1.0 + std::f64::consts::E / 2.0;
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    // ∂KL/∂μ = μ, ∂KL/∂log σ² = ½(σ² − 1).
    let g = kl_to_standard_normal(mu.leaky_trace(), lv.leaky_trace()).backward();
    let (gm, gl) = (g.get(&mu).as_vec(), g.get(&lv).as_vec());
    assert!((gm[0] - 2.0).abs() < 1e-5 && gm[1].abs() < 1e-6, "{gm:?}");
    assert!(gl[0].abs() < 1e-6, "{gl:?}");
    assert!(
        (gl[1] as f64 - 0.5 * (std::f64::consts::E - 1.0)).abs() < 1e-5,
        "{gl:?}"
    );
}

#[test]
fn reparameterize_matches_hand_values_and_gradients() {
    let dev = Cpu::default();
    // z = μ + e^{lv/2} ε: (1 + 2·0.5, −1 + 0.5·(−2)) with lv = (ln 4, ln ¼).
    let mu = codes::<2>(&dev, &[1.0, -1.0]);
    let lv = codes::<2>(&dev, &[4f32.ln(), 0.25f32.ln()]);
    let eps = codes::<2>(&dev, &[0.5, -2.0]);
    let z = reparameterize(mu.clone(), lv.clone(), eps.clone()).as_vec();
    assert!(
        (z[0] - 2.0).abs() < 1e-6 && (z[1] + 2.0).abs() < 1e-6,
        "{z:?}"
    );
    // ∂Σz/∂μ = 1, ∂Σz/∂lv = ½ e^{lv/2} ε.
    let g = reparameterize(mu.leaky_trace(), lv.leaky_trace(), eps)
        .sum::<Rank0, _>()
        .backward();
    assert!(g.get(&mu).as_vec().iter().all(|&v| (v - 1.0).abs() < 1e-6));
    let gl = g.get(&lv).as_vec();
    assert!(
        (gl[0] - 0.5).abs() < 1e-6 && (gl[1] + 0.5).abs() < 1e-6,
        "{gl:?}"
    );
}

#[test]
fn log_mean_exp_is_stable_far_from_zero() {
    assert!((log_mean_exp(&[5.0]) - 5.0).abs() < 1e-12);
    let v = log_mean_exp(&[-2000.0, -2000.0, -2000.0 + 4f64.ln() + 2f64.ln()]);
    // (1 + 1 + 8)/3 = 10/3.
    assert!((v - (-2000.0 + (10.0f64 / 3.0).ln())).abs() < 1e-9, "{v}");
    assert!(
        (log_mean_exp(&[800.0, 790.0]) - (800.0 + ((1.0 + (-10f64).exp()) / 2.0).ln())).abs()
            < 1e-9
    );
}
