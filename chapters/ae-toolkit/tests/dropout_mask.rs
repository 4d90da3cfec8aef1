//! The patched dfdx draws dropout's mask once, in parallel chunks, and keeps it for the backward
//! pass (vendor/README.md, "Dropout's mask"). The mask must be the one dfdx 0.13 draws — one
//! Bernoulli sample per element from `StdRng::seed_from_u64(seed)`, in order — so that seeded
//! runs keep their numbers, and the backward pass must use that same mask.

use ae_toolkit::dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Bernoulli, Distribution};

const DEVICE_SEED: u64 = 11;

/// Dropout with `p` on a traced tensor of ones of `n` elements: its output and the gradient of
/// the output's sum, next to the mask unpatched dfdx would draw (`true`: dropped).
fn dropout_of_ones(n: usize, p: f64) -> (Vec<f32>, Vec<f32>, Vec<bool>) {
    let dev = Cpu::seed_from_u64(DEVICE_SEED);
    let x: Tensor<(usize,), f32, Cpu> = dev.ones_like(&(n,));
    let y = x.leaky_trace().dropout(p);
    let out = y.as_vec();
    let grad = y.sum().backward().get(&x).as_vec();
    // dfdx's dropout takes its seed as the device's next u64, then draws the mask from it.
    let seed: u64 = StdRng::seed_from_u64(DEVICE_SEED).gen();
    let mut rng = StdRng::seed_from_u64(seed);
    let dist = Bernoulli::new(p).unwrap();
    let mask = (0..n).map(|_| dist.sample(&mut rng)).collect();
    (out, grad, mask)
}

fn check(n: usize, p: f64) {
    let (out, grad, mask) = dropout_of_ones(n, p);
    let kept = 1.0 / (1.0 - p) as f32;
    for (i, dropped) in mask.iter().enumerate() {
        let expected = if *dropped { 0.0 } else { kept };
        assert_eq!(out[i], expected, "output {i} of {n}");
        assert_eq!(grad[i], expected, "gradient {i} of {n}");
    }
    let dropped = mask.iter().filter(|d| **d).count() as f64 / n as f64;
    assert!((dropped - p).abs() < 0.05, "{dropped} dropped, p = {p}");
}

/// Below the parallel threshold: one chunk, one generator.
#[test]
fn a_short_mask_is_the_one_a_single_generator_draws() {
    check(1000, 0.2);
}

/// Above it (32,768 elements): chunks of 8,192 drawn in parallel, the last one partial; each
/// chunk's generator starts where the single generator would be.
#[test]
fn a_long_mask_drawn_in_chunks_is_the_one_a_single_generator_draws() {
    check(3 * 8192 + 9000 + 17, 0.2);
    check(40_000, 0.5);
}
