//! Hidden tests for the course assignment (`cargo xtask assignment`): kept out of student copies.

use ae_toolkit::dfdx::prelude::*;
use ch01_autoencoder::{glorot_uniform, Basic, Shallow};

#[test]
fn glorot_bounds_follow_each_layers_fans() {
    let dev = Cpu::seed_from_u64(11);
    let mut m = dev.build_module::<Shallow, f32>();
    glorot_uniform(&mut m);
    // Encoder 784 → 32 and decoder 32 → 784: a = √(6/816) for both, and the extremes come close.
    let a = (6.0f64 / 816.0).sqrt();
    for w in [m.0 .0.weight.as_vec(), m.1.weight.as_vec()] {
        let max = w.iter().map(|v| (*v as f64).abs()).fold(0.0, f64::max);
        assert!(max <= a + 1e-7, "{max} > {a}");
        assert!(max > 0.99 * a, "{max}: the bound is not used");
    }
    // Layers of one model with different fans get different bounds: `basic`'s code layers
    // (400 → 20 and 20 → 400) have a = √(6/420), its outer ones √(6/1184).
    let mut m = dev.build_module::<Basic, f32>();
    glorot_uniform(&mut m);
    for (w, fans) in [
        (m.0 .2.weight.as_vec(), 420.0),
        (m.1 .0.weight.as_vec(), 420.0),
        (m.0 .0.weight.as_vec(), 1184.0),
    ] {
        let a = (6.0f64 / fans).sqrt();
        let max = w.iter().map(|v| (*v as f64).abs()).fold(0.0, f64::max);
        assert!(max <= a + 1e-7, "{max} > {a} (fans {fans})");
        assert!(max > 0.99 * a, "{max}: the bound √(6/{fans}) is not used");
    }
}

#[test]
fn glorot_zeroes_every_bias_and_redraws_the_weights() {
    let dev = Cpu::seed_from_u64(12);
    let mut m = dev.build_module::<Shallow, f32>();
    let before = m.0 .0.weight.as_vec();
    glorot_uniform(&mut m);
    assert!(m.0 .0.bias.as_vec().iter().all(|&b| b == 0.0));
    assert!(m.1.bias.as_vec().iter().all(|&b| b == 0.0));
    let after = m.0 .0.weight.as_vec();
    assert!(before.iter().zip(&after).filter(|(x, y)| x == y).count() < 10);
    // dfdx's default bound is 1/√784 ≈ 0.036; Glorot's here is ≈ 0.086.
    assert!(after.iter().any(|v| v.abs() > 0.06));
}
