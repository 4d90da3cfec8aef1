//! The convolution layers and the dfdx operations under them (compiled on stable by the patch in
//! `vendor/README.md`), against direct nested-loop implementations and finite differences.

use ae_toolkit::conv::builder::{
    Conv2D, ConvTrans2D, Crop2D, Flatten2D, MaxPool2D, Unflatten2D, Upsample2D,
};
use ae_toolkit::conv::{conv_output_size, conv_trans_output_size};
use dfdx::optim::{Adam, AdamConfig, Optimizer};
use dfdx::prelude::*;
use dfdx::tensor_ops::{Pool2DKind, TryConv2D, TryConvTrans2D, TryPool2D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "conv/reference.rs"]
mod reference;
use reference::{
    case, conv_reference, conv_trans_reference, dilated_grouped_reference, max_pool_reference,
    random, Case, Dyn4, CASES,
};

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: {g} against {w}"
        );
    }
}

fn tensor4(dev: &Cpu, data: Vec<f32>, shape: Dyn4) -> Tensor<Dyn4, f32, Cpu> {
    dev.tensor_from_vec(data, shape)
}

#[test]
fn conv2d_matches_nested_loops() {
    let dev = Cpu::default();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for c in CASES {
        let x = random(&mut rng, c.batch * c.c_in * c.h * c.w);
        let w = random(&mut rng, c.c_out * c.c_in * c.k * c.k);
        let (want, ho, wo) = conv_reference(&x, &w, c);
        let y = (
            tensor4(&dev, x, (c.batch, c.c_in, c.h, c.w)),
            tensor4(&dev, w, (c.c_out, c.c_in, c.k, c.k)),
        )
            .conv2d(c.s, c.p, 1usize, 1usize);
        assert_eq!(*y.shape(), (c.batch, c.c_out, ho, wo), "{c:?}");
        assert_close(&y.as_vec(), &want, 1e-5, &format!("conv2d {c:?}"));
    }
}

#[test]
fn conv_trans2d_matches_nested_loops() {
    let dev = Cpu::default();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for c in CASES {
        let x = random(&mut rng, c.batch * c.c_in * c.h * c.w);
        let w = random(&mut rng, c.c_in * c.c_out * c.k * c.k);
        let (want, ho, wo) = conv_trans_reference(&x, &w, c);
        let y = (
            tensor4(&dev, x, (c.batch, c.c_in, c.h, c.w)),
            tensor4(&dev, w, (c.c_in, c.c_out, c.k, c.k)),
        )
            .convtrans2d(c.s, c.p, 1usize, 1usize);
        assert_eq!(*y.shape(), (c.batch, c.c_out, ho, wo), "{c:?}");
        assert_close(&y.as_vec(), &want, 1e-5, &format!("convtrans2d {c:?}"));
    }
}

#[test]
fn max_pool2d_matches_nested_loops() {
    let dev = Cpu::default();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // Padding at most half the window, so no window is all padding (PyTorch's rule too).
    for c in CASES.into_iter().filter(|c| 2 * c.p <= c.k) {
        let x = random(&mut rng, c.batch * c.c_in * c.h * c.w);
        let (want, ho, wo) = max_pool_reference(&x, c);
        let y = tensor4(&dev, x, (c.batch, c.c_in, c.h, c.w)).pool2d(
            Pool2DKind::Max,
            c.k,
            c.s,
            c.p,
            1usize,
        );
        assert_eq!(*y.shape(), (c.batch, c.c_in, ho, wo), "{c:?}");
        assert_eq!(y.as_vec(), want, "{c:?}"); // a maximum is exact
    }
}

/// The layers add a bias per channel to the operation; upsampling repeats each pixel.
#[test]
fn layers_compute_operation_plus_bias() {
    let dev = Cpu::seed_from_u64(4);
    let c = case(2, 3, 4, 6, 5, 3, 2, 1);
    let x: Tensor<(usize, Const<3>, usize, usize), f32, _> =
        dev.sample_normal_like(&(2, Const, 6, 5));
    let conv = dev.build_module::<Conv2D<3, 4, 3, 2, 1>, f32>();
    let (y, ho, wo) = conv_reference(&x.as_vec(), &conv.weight.as_vec(), c);
    let bias = conv.bias.as_vec();
    let want: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(i, v)| v + bias[i / (ho * wo) % 4] as f64)
        .collect();
    assert_close(&conv.forward(x.clone()).as_vec(), &want, 1e-5, "Conv2D");

    let up = dev.build_module::<ConvTrans2D<3, 4, 3, 2, 1>, f32>();
    let (y, ho, wo) = conv_trans_reference(&x.as_vec(), &up.weight.as_vec(), c);
    let bias = up.bias.as_vec();
    let want: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(i, v)| v + bias[i / (ho * wo) % 4] as f64)
        .collect();
    let out = up.forward(x.clone());
    assert_eq!(*out.shape(), (2, Const::<4>, 11, 9));
    assert_close(&out.as_vec(), &want, 1e-5, "ConvTrans2D");

    for factor in [2usize, 3] {
        let got = match factor {
            2 => Upsample2D::<2>.forward(x.clone()),
            _ => Upsample2D::<3>.forward(x.clone()),
        };
        assert_eq!(*got.shape(), (2, Const::<3>, 6 * factor, 5 * factor));
        let (xs, gs) = (x.as_vec(), got.as_vec());
        for (i, g) in gs.iter().enumerate() {
            let (col, row, plane) = (
                i % (5 * factor),
                i / (5 * factor) % (6 * factor),
                i / (30 * factor * factor),
            );
            assert_eq!(
                *g,
                xs[plane * 30 + row / factor * 5 + col / factor],
                "factor {factor}, output {i}"
            );
        }
    }
}

/// Cropping keeps the inner pixels as they are; the gradient of a cropped pixel is zero and of a
/// kept one is the output's.
#[test]
fn crop_keeps_the_inner_pixels_and_their_gradient() {
    let dev = Cpu::seed_from_u64(6);
    let x: Tensor<(usize, Const<2>, usize, usize), f32, _> =
        dev.sample_normal_like(&(2, Const, 7, 6));
    let y = Crop2D::<1, 2>.forward(x.clone());
    assert_eq!(*y.shape(), (2, Const::<2>, 4, 3));
    let (xs, ys) = (x.as_vec(), y.as_vec());
    for (i, v) in ys.iter().enumerate() {
        let (col, row, plane) = (i % 3, i / 3 % 4, i / 12);
        assert_eq!(*v, xs[plane * 42 + (row + 1) * 6 + col + 1], "output {i}");
    }
    let r: Vec<f32> = (0..ys.len()).map(|i| i as f32 + 1.0).collect();
    let weights = dev.tensor_from_vec(r.clone(), (2, Const::<2>, 4, 3));
    let g = (Crop2D::<1, 2>.forward(x.clone().leaky_traced()) * weights)
        .sum()
        .backward();
    let gx = g.get(&x).as_vec();
    for (n, v) in gx.iter().enumerate() {
        let (col, row, plane) = (n % 6, n / 6 % 7, n / 42);
        let kept = (1..5).contains(&row) && (1..4).contains(&col);
        let want = if kept {
            r[plane * 12 + (row - 1) * 3 + col - 1]
        } else {
            0.0
        };
        assert_eq!(*v, want, "input {n}");
    }
}

/// `Σ y ⊙ r` in f64 for a fixed random `r`, whose gradient is what backward computes from `r`.
fn weighted_sum(y: &[f32], r: &[f32]) -> f64 {
    y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Central differences of `f` at every coordinate of `x`, against `grad`.
fn check_gradient(
    x: &[f32],
    grad: &[f32],
    eps: f32,
    tol: f64,
    what: &str,
    f: impl Fn(Vec<f32>) -> f64,
) {
    for i in 0..x.len() {
        let (mut up, mut down) = (x.to_vec(), x.to_vec());
        up[i] += eps;
        down[i] -= eps;
        let numeric = (f(up) - f(down)) / (2.0 * eps as f64);
        assert!(
            (numeric - grad[i] as f64).abs() <= tol * (1.0 + numeric.abs()),
            "{what}: coordinate {i}: finite difference {numeric}, backward {}",
            grad[i]
        );
    }
}

#[test]
fn conv_gradients_match_finite_differences() {
    let dev = Cpu::default();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for c in [CASES[1], CASES[2], CASES[4]] {
        let x = random(&mut rng, c.batch * c.c_in * c.h * c.w);
        let w = random(&mut rng, c.c_out * c.c_in * c.k * c.k);
        let (xs, ws) = ((c.batch, c.c_in, c.h, c.w), (c.c_out, c.c_in, c.k, c.k));
        let forward = |x: Vec<f32>, w: Vec<f32>| {
            (tensor4(&dev, x, xs), tensor4(&dev, w, ws)).conv2d(c.s, c.p, 1usize, 1usize)
        };
        let r = random(&mut rng, forward(x.clone(), w.clone()).as_vec().len());
        let (xt, wt) = (tensor4(&dev, x.clone(), xs), tensor4(&dev, w.clone(), ws));
        let y = (xt.leaky_trace(), wt.clone()).conv2d(c.s, c.p, 1usize, 1usize);
        let rt = dev.tensor_from_vec(r.clone(), *y.shape());
        let grads = (y * rt).sum().backward();
        let what = format!("conv2d {c:?}");
        check_gradient(
            &x,
            &grads.get(&xt).as_vec(),
            1e-2,
            1e-3,
            &format!("{what}, input"),
            |x| weighted_sum(&forward(x, w.clone()).as_vec(), &r),
        );
        check_gradient(
            &w,
            &grads.get(&wt).as_vec(),
            1e-2,
            1e-3,
            &format!("{what}, weight"),
            |w| weighted_sum(&forward(x.clone(), w).as_vec(), &r),
        );
    }
}

#[test]
fn conv_trans_gradients_match_finite_differences() {
    let dev = Cpu::default();
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for c in [CASES[0], CASES[2], CASES[4]] {
        let x = random(&mut rng, c.batch * c.c_in * c.h * c.w);
        let w = random(&mut rng, c.c_in * c.c_out * c.k * c.k);
        let (xs, ws) = ((c.batch, c.c_in, c.h, c.w), (c.c_in, c.c_out, c.k, c.k));
        let forward = |x: Vec<f32>, w: Vec<f32>| {
            (tensor4(&dev, x, xs), tensor4(&dev, w, ws)).convtrans2d(c.s, c.p, 1usize, 1usize)
        };
        let r = random(&mut rng, forward(x.clone(), w.clone()).as_vec().len());
        let (xt, wt) = (tensor4(&dev, x.clone(), xs), tensor4(&dev, w.clone(), ws));
        let y = (xt.leaky_trace(), wt.clone()).convtrans2d(c.s, c.p, 1usize, 1usize);
        let rt = dev.tensor_from_vec(r.clone(), *y.shape());
        let grads = (y * rt).sum().backward();
        let what = format!("convtrans2d {c:?}");
        check_gradient(
            &x,
            &grads.get(&xt).as_vec(),
            1e-2,
            1e-3,
            &format!("{what}, input"),
            |x| weighted_sum(&forward(x, w.clone()).as_vec(), &r),
        );
        check_gradient(
            &w,
            &grads.get(&wt).as_vec(),
            1e-2,
            1e-3,
            &format!("{what}, weight"),
            |w| weighted_sum(&forward(x.clone(), w).as_vec(), &r),
        );
    }
}

/// Max-pooling's gradient goes to each window's winner (summed where windows overlap). The
/// inputs are distinct and at least 0.01 apart, so a step of 10⁻³ never changes a winner.
#[test]
fn max_pool_gradient_matches_finite_differences() {
    let dev = Cpu::default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let overlapping = case(2, 2, 2, 7, 6, 3, 2, 1);
    for c in [
        CASES[3],
        overlapping,
        Case {
            k: 2,
            s: 2,
            p: 0,
            ..overlapping
        },
    ] {
        let n = c.batch * c.c_in * c.h * c.w;
        let mut x: Vec<f32> = (0..n).map(|i| i as f32 * 0.01).collect();
        for i in (1..n).rev() {
            x.swap(i, rng.gen_range(0..=i));
        }
        let xs = (c.batch, c.c_in, c.h, c.w);
        let forward =
            |x: Vec<f32>| tensor4(&dev, x, xs).pool2d(Pool2DKind::Max, c.k, c.s, c.p, 1usize);
        let r = random(&mut rng, forward(x.clone()).as_vec().len());
        let xt = tensor4(&dev, x.clone(), xs);
        let y = xt
            .leaky_trace()
            .pool2d(Pool2DKind::Max, c.k, c.s, c.p, 1usize);
        let rt = dev.tensor_from_vec(r.clone(), *y.shape());
        let grads = (y * rt).sum().backward();
        check_gradient(
            &x,
            &grads.get(&xt).as_vec(),
            1e-3,
            1e-3,
            &format!("max-pool {c:?}"),
            |x| weighted_sum(&forward(x).as_vec(), &r),
        );
    }
}

#[test]
fn output_size_formulas() {
    // Hand values: (n + 2p − k)/s + 1 and (n − 1)s + k − 2p.
    assert_eq!(conv_output_size(28, 3, 1, 1), Some(28));
    assert_eq!(conv_output_size(28, 2, 2, 0), Some(14));
    assert_eq!(conv_output_size(7, 2, 2, 0), Some(3)); // the last row is dropped
    assert_eq!(conv_output_size(7, 3, 2, 1), Some(4));
    assert_eq!(conv_output_size(3, 5, 1, 0), None);
    assert_eq!(conv_output_size(3, 3, 0, 0), None);
    assert_eq!(conv_trans_output_size(7, 4, 2, 1), Some(14));
    assert_eq!(conv_trans_output_size(14, 3, 2, 1), Some(27));
    assert_eq!(conv_trans_output_size(1, 2, 1, 1), None);
    // And what dfdx's operations produce, over a grid of cases.
    let dev = Cpu::default();
    for n in 1..=9 {
        for k in 1..=4 {
            for s in 1..=3 {
                for p in 0..=2 {
                    let x: Tensor<Dyn4, f32, _> = dev.zeros_like(&(1, 1, n, n));
                    let w: Tensor<Dyn4, f32, _> = dev.zeros_like(&(1, 1, k, k));
                    if let Some(m) = conv_output_size(n, k, s, p) {
                        let y = (x.clone(), w.clone()).conv2d(s, p, 1usize, 1usize);
                        assert_eq!(y.shape().2, m, "conv n={n} k={k} s={s} p={p}");
                        if 2 * p <= k {
                            assert_eq!(
                                x.clone().pool2d(Pool2DKind::Max, k, s, p, 1usize).shape().2,
                                m
                            );
                        }
                    }
                    if let Some(m) = conv_trans_output_size(n, k, s, p) {
                        let y = (x, w).convtrans2d(s, p, 1usize, 1usize);
                        assert_eq!(y.shape().2, m, "transposed n={n} k={k} s={s} p={p}");
                    }
                }
            }
        }
    }
}

/// The shape of the Keras blog's convolutional autoencoder, on 12×12 images to stay small.
type Encoder = (
    Unflatten2D<1, 12, 12>,
    (Conv2D<1, 4, 3, 1, 1>, ReLU, MaxPool2D<2, 2>),
    (Conv2D<4, 2, 3, 1, 1>, ReLU, MaxPool2D<2, 2>),
);
type Decoder = (
    (Conv2D<2, 4, 3, 1, 1>, ReLU, Upsample2D<2>),
    (ConvTrans2D<4, 4, 3, 1, 1>, ReLU, Upsample2D<2>),
    Conv2D<4, 1, 3, 1, 1>,
    Flatten2D<144>,
);
type Net = (Encoder, Decoder);

#[test]
fn safetensors_round_trip_is_bitwise() {
    let dev = Cpu::seed_from_u64(8);
    let trained = dev.build_module::<Net, f32>();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conv.safetensors");
    trained.save_safetensors(&path).unwrap();
    let mut restored = Cpu::seed_from_u64(9).build_module::<Net, f32>();
    assert_ne!(restored.1 .2.weight.as_vec(), trained.1 .2.weight.as_vec());
    restored.load_safetensors(&path).unwrap();
    let (a, b) = (&trained, &restored);
    for (x, y) in [
        (a.0 .1 .0.weight.as_vec(), b.0 .1 .0.weight.as_vec()),
        (a.0 .1 .0.bias.as_vec(), b.0 .1 .0.bias.as_vec()),
        (a.0 .2 .0.weight.as_vec(), b.0 .2 .0.weight.as_vec()),
        (a.1 .0 .0.weight.as_vec(), b.1 .0 .0.weight.as_vec()),
        (a.1 .1 .0.weight.as_vec(), b.1 .1 .0.weight.as_vec()),
        (a.1 .1 .0.bias.as_vec(), b.1 .1 .0.bias.as_vec()),
        (a.1 .2.weight.as_vec(), b.1 .2.weight.as_vec()),
        (a.1 .2.bias.as_vec(), b.1 .2.bias.as_vec()),
    ] {
        assert_eq!(
            x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    let x: Tensor<(usize, Const<144>), f32, _> = dev.sample_uniform_like(&(3, Const));
    assert_eq!(
        trained.forward(x.clone()).as_vec(),
        restored.forward(x).as_vec()
    );
    // A model of another shape is refused with an error, not a panic.
    let mut other = dev.build_module::<(Unflatten2D<1, 12, 12>, Conv2D<1, 5, 3, 1, 1>), f32>();
    assert!(other.load_safetensors(&path).is_err());
}

/// Built, traced and updated like every other model: every weight and bias gets a gradient
/// (through the reshaped filter view too), and Adam lowers the loss on a fixed batch.
#[test]
fn trains_with_adam_on_a_tape() {
    let dev = Cpu::seed_from_u64(10);
    let mut model = dev.build_module::<Net, f32>();
    let before = model.clone();
    let mut opt = Adam::new(
        &model,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    // Eight binary images of 6×6 blocks in a checkerboard of four kinds, which the 3×3 code
    // after two poolings can hold.
    let blocks: Vec<f32> = (0..8 * 144)
        .map(|i| {
            let (j, row, col) = (i / 144, i % 144 / 12, i % 12);
            ((row / 6 == j % 2) ^ (col / 6 == j / 2 % 2)) as u8 as f32
        })
        .collect();
    let x = dev.tensor_from_vec(blocks, (8, Const::<144>));
    let mut grads = model.alloc_grads();
    let mut losses = vec![];
    for _ in 0..30 {
        let y = model.forward_mut(x.clone().traced(grads));
        let loss = y.bce_with_logits(x.clone()).mean();
        losses.push(loss.array());
        grads = loss.backward();
        opt.update(&mut model, &grads)
            .expect("every parameter has a gradient");
        model.zero_grads(&mut grads);
    }
    assert!(losses[29] < 0.9 * losses[0], "{losses:?}");
    for (was, now) in [
        (
            before.0 .1 .0.weight.as_vec(),
            model.0 .1 .0.weight.as_vec(),
        ),
        (before.0 .1 .0.bias.as_vec(), model.0 .1 .0.bias.as_vec()),
        (
            before.1 .1 .0.weight.as_vec(),
            model.1 .1 .0.weight.as_vec(),
        ),
        (before.1 .1 .0.bias.as_vec(), model.1 .1 .0.bias.as_vec()),
        (before.1 .2.weight.as_vec(), model.1 .2.weight.as_vec()),
    ] {
        let changed = was.iter().zip(&now).filter(|(a, b)| a != b).count();
        assert!(
            changed * 2 > was.len(),
            "only {changed} of {} values were updated",
            was.len()
        );
    }
}

/// The layers' parameter gradients (through the filter view and the bias broadcast) against
/// finite differences of the layer's output.
#[test]
fn layer_parameter_gradients_match_finite_differences() {
    let dev = Cpu::seed_from_u64(11);
    let x: Tensor<(usize, Const<2>, usize, usize), f32, _> =
        dev.sample_normal_like(&(2, Const, 5, 4));
    let conv = dev.build_module::<Conv2D<2, 3, 3, 2, 1>, f32>();
    let r = random(
        &mut ChaCha8Rng::seed_from_u64(12),
        conv.forward(x.clone()).as_vec().len(),
    );
    let rt = dev.tensor_from_vec(r.clone(), *conv.forward(x.clone()).shape());
    let grads = (conv.forward(x.leaky_trace()) * rt).sum().backward();
    let (w, b) = (conv.weight.as_vec(), conv.bias.as_vec());
    let with = |w: Vec<f32>, b: Vec<f32>| {
        let mut m = conv.clone();
        m.weight = dev.tensor_from_vec(w, (Const, Const, Const, Const));
        m.bias = dev.tensor_from_vec(b, (Const,));
        weighted_sum(&m.forward(x.clone()).as_vec(), &r)
    };
    check_gradient(
        &w,
        &grads.get(&conv.weight).as_vec(),
        1e-2,
        1e-3,
        "Conv2D weight",
        |w| with(w, b.clone()),
    );
    check_gradient(
        &b,
        &grads.get(&conv.bias).as_vec(),
        1e-2,
        1e-3,
        "Conv2D bias",
        |b| with(w.clone(), b),
    );
}

#[test]
fn dilated_and_grouped_convolutions_match_nested_loops_and_finite_differences() {
    let dev = Cpu::default();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    // The strides the adjoint identity was checked at (only where the transpose's output has the
    // input's size).
    let mut adjoint_strides = Vec::new();
    // (batch, c_in, c_out, h, w, k, stride, padding, dilation, groups)
    for (b, ci, co, h, wd, k, s, p, d, g) in [
        (2, 4, 6, 9, 8, 3, 1, 2, 2, 2),
        (2, 2, 4, 10, 9, 3, 2, 1, 2, 2),
        (1, 3, 2, 8, 8, 2, 1, 0, 3, 1),
        // Stride 2 and padding 1 without dilation or groups: the encoders' downsampling
        // convolution, whose transpose the page says the adjoint identity covers too.
        (2, 3, 4, 9, 9, 3, 2, 1, 1, 1),
    ] {
        let what = format!("b {b} c {ci}→{co} {h}×{wd} k {k} s {s} p {p} d {d} g {g}");
        let (xs, ws) = ((b, ci, h, wd), (co, ci / g, k, k));
        let x = random(&mut rng, b * ci * h * wd);
        let w = random(&mut rng, co * (ci / g) * k * k);
        let conv = |x: Vec<f32>, w: Vec<f32>| {
            (tensor4(&dev, x, xs), tensor4(&dev, w, ws)).conv2d(s, p, d, g)
        };
        let (want, ho, wo) = dilated_grouped_reference(&x, &w, xs, (co, k), (s, p, d, g));
        let y = conv(x.clone(), w.clone());
        assert_eq!(*y.shape(), (b, co, ho, wo), "{what}");
        assert_close(&y.as_vec(), &want, 1e-5, &format!("conv2d {what}"));

        let r = random(&mut rng, want.len());
        let (xt, wt) = (tensor4(&dev, x.clone(), xs), tensor4(&dev, w.clone(), ws));
        let y = (xt.leaky_trace(), wt.clone()).conv2d(s, p, d, g);
        let rt = dev.tensor_from_vec(r.clone(), *y.shape());
        let grads = (y * rt).sum().backward();
        let f = |x: Vec<f32>, w: Vec<f32>| weighted_sum(&conv(x, w).as_vec(), &r);
        check_gradient(&x, &grads.get(&xt).as_vec(), 1e-2, 1e-3, &what, |x| {
            f(x, w.clone())
        });
        check_gradient(&w, &grads.get(&wt).as_vec(), 1e-2, 1e-3, &what, |w| {
            f(x.clone(), w)
        });

        // The transposed convolution (groups 1) of r with the same filters, read as [c_out, c_in
        // / g, k, k] = [its input, its output, k, k], is the adjoint of the convolution:
        // Σ convtrans(r) ⊙ x = Σ r ⊙ conv(x).
        if g == 1 {
            let rs = (b, co, ho, wo);
            let ct = |r: Vec<f32>, w: Vec<f32>| {
                (tensor4(&dev, r, rs), tensor4(&dev, w, ws)).convtrans2d(s, p, d, 1usize)
            };
            let t = ct(r.clone(), w.clone());
            let (_, _, th, tw) = *t.shape();
            if (th, tw) == (h, wd) {
                let lhs = weighted_sum(&t.as_vec(), &x);
                let rhs = weighted_sum(&conv(x.clone(), w.clone()).as_vec(), &r);
                assert!(
                    (lhs - rhs).abs() <= 1e-4 * (1.0 + rhs.abs()),
                    "{what}: adjoint"
                );
                adjoint_strides.push(s);
            }
            let q = random(&mut rng, t.as_vec().len());
            let (rt, wt) = (tensor4(&dev, r.clone(), rs), tensor4(&dev, w.clone(), ws));
            let t = (rt.leaky_trace(), wt.clone()).convtrans2d(s, p, d, 1usize);
            let qt = dev.tensor_from_vec(q.clone(), *t.shape());
            let grads = (t * qt).sum().backward();
            let f = |r: Vec<f32>, w: Vec<f32>| weighted_sum(&ct(r, w).as_vec(), &q);
            let what = format!("convtrans2d {what}");
            check_gradient(&r, &grads.get(&rt).as_vec(), 1e-2, 1e-3, &what, |r| {
                f(r, w.clone())
            });
            check_gradient(&w, &grads.get(&wt).as_vec(), 1e-2, 1e-3, &what, |w| {
                f(r.clone(), w)
            });
        }
    }
    assert_eq!(
        adjoint_strides,
        [1, 2],
        "the adjoint identity was checked at these strides"
    );
}
