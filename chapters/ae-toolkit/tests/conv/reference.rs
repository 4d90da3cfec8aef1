//! Direct nested-loop convolution, transposed convolution and max-pooling, the definitions the
//! tests hold dfdx's operations to.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A batch of images' shape: (batch, channels, height, width).
pub type Dyn4 = (usize, usize, usize, usize);

/// Sizes of a batch of images and of a square kernel.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
    pub p: usize,
}

/// A case: batch, input and output channels, height, width, kernel, stride, padding.
#[allow(clippy::too_many_arguments)]
pub const fn case(
    batch: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
) -> Case {
    Case {
        batch,
        c_in,
        c_out,
        h,
        w,
        k,
        s,
        p,
    }
}

pub const CASES: [Case; 6] = [
    case(2, 3, 4, 7, 6, 3, 1, 0),
    case(2, 3, 4, 7, 6, 3, 1, 1),
    case(1, 2, 3, 8, 9, 3, 2, 1),
    case(2, 1, 2, 9, 7, 2, 2, 0),
    case(1, 2, 2, 6, 6, 4, 3, 2),
    case(3, 2, 1, 5, 8, 1, 1, 0),
];

pub fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// `y[b,o,i,j] = Σ_{c,u,v} x[b,c,i·s+u−p, j·s+v−p] · w[o,c,u,v]`, zero outside the image.
pub fn conv_reference(x: &[f32], w: &[f32], c: Case) -> (Vec<f64>, usize, usize) {
    let (ho, wo) = (
        (c.h + 2 * c.p - c.k) / c.s + 1,
        (c.w + 2 * c.p - c.k) / c.s + 1,
    );
    let mut y = vec![0.0f64; c.batch * c.c_out * ho * wo];
    for b in 0..c.batch {
        for o in 0..c.c_out {
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = 0.0f64;
                    for ci in 0..c.c_in {
                        for u in 0..c.k {
                            for v in 0..c.k {
                                let (r, q) = (
                                    (i * c.s + u) as isize - c.p as isize,
                                    (j * c.s + v) as isize - c.p as isize,
                                );
                                if r < 0 || q < 0 || r >= c.h as isize || q >= c.w as isize {
                                    continue;
                                }
                                let xv =
                                    x[((b * c.c_in + ci) * c.h + r as usize) * c.w + q as usize];
                                let wv = w[((o * c.c_in + ci) * c.k + u) * c.k + v];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    y[((b * c.c_out + o) * ho + i) * wo + j] = acc;
                }
            }
        }
    }
    (y, ho, wo)
}

/// Each input pixel scatters `x[b,c,i,j] · w[c,o,u,v]` to `y[b,o,i·s+u−p, j·s+v−p]`.
pub fn conv_trans_reference(x: &[f32], w: &[f32], c: Case) -> (Vec<f64>, usize, usize) {
    let (ho, wo) = (
        (c.h - 1) * c.s + c.k - 2 * c.p,
        (c.w - 1) * c.s + c.k - 2 * c.p,
    );
    let mut y = vec![0.0f64; c.batch * c.c_out * ho * wo];
    for b in 0..c.batch {
        for ci in 0..c.c_in {
            for i in 0..c.h {
                for j in 0..c.w {
                    let xv = x[((b * c.c_in + ci) * c.h + i) * c.w + j] as f64;
                    for o in 0..c.c_out {
                        for u in 0..c.k {
                            for v in 0..c.k {
                                let (r, q) = (
                                    (i * c.s + u) as isize - c.p as isize,
                                    (j * c.s + v) as isize - c.p as isize,
                                );
                                if r < 0 || q < 0 || r >= ho as isize || q >= wo as isize {
                                    continue;
                                }
                                let wv = w[((ci * c.c_out + o) * c.k + u) * c.k + v] as f64;
                                y[((b * c.c_out + o) * ho + r as usize) * wo + q as usize] +=
                                    xv * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    (y, ho, wo)
}

/// The largest value of each window, padded cells left out.
pub fn max_pool_reference(x: &[f32], c: Case) -> (Vec<f32>, usize, usize) {
    let (ho, wo) = (
        (c.h + 2 * c.p - c.k) / c.s + 1,
        (c.w + 2 * c.p - c.k) / c.s + 1,
    );
    let mut y = vec![f32::NEG_INFINITY; c.batch * c.c_in * ho * wo];
    for b in 0..c.batch {
        for ci in 0..c.c_in {
            for i in 0..ho {
                for j in 0..wo {
                    for u in 0..c.k {
                        for v in 0..c.k {
                            let (r, q) = (
                                (i * c.s + u) as isize - c.p as isize,
                                (j * c.s + v) as isize - c.p as isize,
                            );
                            if r < 0 || q < 0 || r >= c.h as isize || q >= c.w as isize {
                                continue;
                            }
                            let out = &mut y[((b * c.c_in + ci) * ho + i) * wo + j];
                            *out = out
                                .max(x[((b * c.c_in + ci) * c.h + r as usize) * c.w + q as usize]);
                        }
                    }
                }
            }
        }
    }
    (y, ho, wo)
}

/// Direct nested loops for a convolution with dilation `d` and `g` groups (the cases of [`CASES`] all
/// have `d = g = 1`; the unfolds of the operations handle both, so they are checked here too).
#[allow(clippy::too_many_arguments)]
pub fn dilated_grouped_reference(
    x: &[f32],
    w: &[f32],
    (b, ci, h, wd): Dyn4,
    (co, k): (usize, usize),
    (s, p, d, g): (usize, usize, usize, usize),
) -> (Vec<f64>, usize, usize) {
    let span = d * (k - 1) + 1;
    let (ho, wo) = ((h + 2 * p - span) / s + 1, (wd + 2 * p - span) / s + 1);
    let (cig, cog) = (ci / g, co / g);
    let mut y = vec![0.0f64; b * co * ho * wo];
    for n in 0..b {
        for o in 0..co {
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = 0.0f64;
                    for c in 0..cig {
                        let cx = (o / cog) * cig + c;
                        for u in 0..k {
                            for v in 0..k {
                                let r = (i * s + d * u) as isize - p as isize;
                                let q = (j * s + d * v) as isize - p as isize;
                                if r < 0 || q < 0 || r >= h as isize || q >= wd as isize {
                                    continue;
                                }
                                let xv = x[((n * ci + cx) * h + r as usize) * wd + q as usize];
                                acc += xv as f64 * w[((o * cig + c) * k + u) * k + v] as f64;
                            }
                        }
                    }
                    y[((n * co + o) * ho + i) * wo + j] = acc;
                }
            }
        }
    }
    (y, ho, wo)
}
