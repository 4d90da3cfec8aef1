//! Hidden tests for the course assignment (`cargo xtask assignment`): kept out of student copies.

use ae_toolkit::dfdx::prelude::*;
use ch02_sparse::{kl_sparsity, l1_activity, Hidden, HIDDEN};

fn hidden(dev: &Cpu, rows: usize, value: impl Fn(usize, usize) -> f32) -> Hidden<Cpu> {
    let v = (0..rows * HIDDEN)
        .map(|i| value(i / HIDDEN, i % HIDDEN))
        .collect();
    dev.tensor_from_vec(v, (rows, Const::<HIDDEN>))
}

#[test]
fn kl_matches_hand_values_for_another_rho() {
    // ρ = 0.1, every unit at ρ̂ = 0.3 (rows 0.2 and 0.4): KL = 0.1 ln(1/3) + 0.9 ln(0.9/0.7).
    let dev = Cpu::default();
    let h = hidden(&dev, 2, |b, _| if b == 0 { 0.2 } else { 0.4 });
    let per_unit = 0.1 * (1.0f64 / 3.0).ln() + 0.9 * (0.9f64 / 0.7).ln();
    let want = HIDDEN as f64 * per_unit;
    let got = kl_sparsity(h, 0.1).array() as f64;
    assert!((got - want).abs() < 1e-4 * want, "{got} vs {want}");
}

#[test]
fn kl_gradient_pushes_towards_rho() {
    // Units above ρ get a positive gradient (the penalty falls as they drop), units below a
    // negative one.
    let dev = Cpu::default();
    let h = hidden(&dev, 2, |_, j| if j < HIDDEN / 2 { 0.5 } else { 0.01 });
    let g = kl_sparsity(h.leaky_trace(), 0.05).backward();
    let grad = g.get(&h).as_vec();
    assert!(
        grad[0] > 0.0 && grad[HIDDEN - 1] < 0.0,
        "{} {}",
        grad[0],
        grad[HIDDEN - 1]
    );
    // ∂/∂h_bj = (1/B)(−ρ/ρ̂ + (1 − ρ)/(1 − ρ̂)) at ρ̂ = 0.5: (1/2)(−0.1 + 1.9) = 0.9.
    assert!((grad[0] - 0.9).abs() < 1e-4, "{}", grad[0]);
}

#[test]
fn l1_activity_matches_hand_values_and_gradient() {
    // Three images, all units at 0.1, 0.2, 0.6: totals 40, 80, 240, mean 120.
    let dev = Cpu::default();
    let h = hidden(&dev, 3, |b, _| [0.1, 0.2, 0.6][b]);
    assert!((l1_activity(h.clone()).array() - 120.0).abs() < 1e-2);
    // Every activation's gradient is 1/B.
    let g = l1_activity(h.leaky_trace()).backward();
    assert!(g
        .get(&h)
        .as_vec()
        .iter()
        .all(|&v| (v - 1.0 / 3.0).abs() < 1e-6));
}
