//! The patched dfdx copies a slice run by run along its last axis when that axis is contiguous
//! (vendor/README.md, "Slices copied by runs"); other layouts keep dfdx's element-by-element path.
//! Both must put every element where indexing says, forward and backward. `Crop2D`, Chapter 7's
//! crop after a strided transposed convolution, is such a slice.

use ae_toolkit::dfdx::prelude::*;

type Shape4 = (usize, usize, usize, usize);

/// The flat row-major index of `(a, b, c, d)` in a tensor of dims `n`.
fn at(n: [usize; 4], [a, b, c, d]: [usize; 4]) -> usize {
    ((a * n[1] + b) * n[2] + c) * n[3] + d
}

/// Checks `x[.., 1..3, r, c]` and the gradient of `sum(w ⊙ x[..])` against indexing by hand.
fn check(x: Tensor<Shape4, f32, Cpu>, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
    let dev = x.device().clone();
    let n = {
        let (a, b, c, d) = *x.shape();
        [a, b, c, d]
    };
    let xs = x.as_vec();
    let sliced = x
        .leaky_trace()
        .slice((.., 1..3, rows.clone(), cols.clone()));
    let m = [n[0], 2, rows.len(), cols.len()];
    let w: Tensor<Shape4, f32, Cpu> = dev.sample_normal_like(&(m[0], m[1], m[2], m[3]));
    let (out, ws) = (sliced.as_vec(), w.as_vec());
    let grads = (sliced * w).sum().backward();
    let grad = grads.get(&x).as_vec();
    let mut expected_grad = vec![0.0f32; xs.len()];
    for a in 0..m[0] {
        for b in 0..m[1] {
            for (c, r) in rows.clone().enumerate() {
                for (d, k) in cols.clone().enumerate() {
                    let (o, i) = (at(m, [a, b, c, d]), at(n, [a, b + 1, r, k]));
                    assert_eq!(out[o], xs[i], "output {:?}", [a, b, c, d]);
                    expected_grad[i] = ws[o];
                }
            }
        }
    }
    assert_eq!(grad, expected_grad);
}

#[test]
fn a_slice_of_a_contiguous_tensor_copies_the_right_elements_both_ways() {
    let dev = Cpu::seed_from_u64(5);
    check(dev.sample_normal_like(&(2, 4, 6, 7)), 1..5, 2..6);
    check(dev.sample_normal_like(&(3, 3, 5, 5)), 0..5, 0..5);
    check(dev.sample_normal_like(&(1, 3, 4, 9)), 3..4, 8..9);
}

#[test]
fn a_slice_of_a_permuted_tensor_copies_the_right_elements_both_ways() {
    let dev = Cpu::seed_from_u64(6);
    // Last axis not contiguous: the element-by-element path.
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(2, 4, 7, 6));
    check(x.permute::<_, Axes4<0, 1, 3, 2>>(), 1..6, 2..5);
}
