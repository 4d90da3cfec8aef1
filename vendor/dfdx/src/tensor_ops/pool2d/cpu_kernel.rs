use crate::{shapes::*, tensor::*};
use crate::tensor_ops::utilities::cpu_kernels::{conv_span, for_each_plane};

use std::sync::Arc;

use num_traits::{Float, FromPrimitive};

fn make_4d<S: Shape>(strides: S::Concrete) -> [usize; 4] {
    match S::NUM_DIMS {
        3 => [0, strides[0], strides[1], strides[2]],
        4 => [strides[0], strides[1], strides[2], strides[3]],
        _ => panic!("Only implemented for 3d & 4d arrays"),
    }
}

/// For every output row (column), the rows (columns) of its window inside the input, as (how
/// many, first); consecutive ones are `dilation` apart. Computed once per call (a patch of the
/// Autoencoders-in-Rust book: the loops no longer test every window element against the input's
/// bounds).
fn window_spans(op: &super::Pool2DOp) -> (Vec<(usize, usize)>, Vec<(usize, usize)>) {
    let span = |o: usize, n_in: usize| {
        let (_, n, first) = conv_span(op.dilation, o * op.stride, op.padding, n_in, op.kernel);
        (n, first)
    };
    let rows = (0..op.h_out).map(|oh| span(oh, op.h_in)).collect();
    let cols = (0..op.w_out).map(|ow| span(ow, op.w_in)).collect();
    (rows, cols)
}

/// If the input and output are dense (row-major), the lengths of one image plane of each.
fn dense_planes<I: Shape, O: Shape, E: Dtype>(
    op: &super::Pool2DOp,
    inp: &Tensor<I, E, Cpu>,
    out: &impl Tensorlike<O, E, Cpu>,
) -> Option<[usize; 2]> {
    let dense = inp.strides == inp.shape.strides() && out.strides() == out.shape().strides();
    dense.then_some([op.h_in * op.w_in, op.h_out * op.w_out])
}

/// The pooling of dense image planes, in parallel: `out_p[oh, ow] = scale · f(…f(f(init, x₁),
/// x₂)…)` over the window's inputs inside the image, in the order of the generic loop.
fn pool_planes<E: Float + Dtype, F: Fn(E, E) -> E + Sync>(
    op: &super::Pool2DOp,
    rows: &[(usize, usize)],
    cols: &[(usize, usize)],
    (buf, out_buf, plane_i, plane_o, scale): (&[E], &mut [E], usize, usize, E),
    f: F,
) {
    for_each_plane(out_buf, plane_o, &|p, out_p: &mut [E]| {
        let inp_p = &buf[p * plane_i..][..plane_i];
        for (oh, &(n1, y0)) in rows.iter().enumerate() {
            for (ow, &(n2, x0)) in cols.iter().enumerate() {
                let mut tmp = op.kind.init();
                for j1 in 0..n1 {
                    let row = &inp_p[(y0 + j1 * op.dilation) * op.w_in..][..op.w_in];
                    for j2 in 0..n2 {
                        tmp = f(tmp, row[x0 + j2 * op.dilation]);
                    }
                }
                out_p[oh * op.w_out + ow] = tmp * scale;
            }
        }
    })
}

/// The gradient of [pool_planes]: `grad_inp[i] += pick(scale · grad_out[o], inp[i], out[o])` for
/// each window `o` and its inputs `i`, in the order of the generic loop.
#[allow(clippy::type_complexity)]
fn unpool_planes<E: Float + Dtype, F: Fn(E, E, E) -> E + Sync>(
    op: &super::Pool2DOp,
    rows: &[(usize, usize)],
    cols: &[(usize, usize)],
    (inp_buf, grad_inp, out_buf, grad_out, [plane_i, plane_o], scale): (
        &[E],
        &mut [E],
        &[E],
        &[E],
        [usize; 2],
        E,
    ),
    pick: F,
) {
    for_each_plane(grad_inp, plane_i, &|p, gi: &mut [E]| {
        let inp_p = &inp_buf[p * plane_i..][..plane_i];
        let go_p = &grad_out[p * plane_o..][..plane_o];
        let vo_p = &out_buf[p * plane_o..][..plane_o];
        for (oh, &(n1, y0)) in rows.iter().enumerate() {
            for (ow, &(n2, x0)) in cols.iter().enumerate() {
                let go = go_p[oh * op.w_out + ow] * scale;
                let vo = vo_p[oh * op.w_out + ow];
                for j1 in 0..n1 {
                    let row = (y0 + j1 * op.dilation) * op.w_in;
                    let (gi, inp) = (&mut gi[row..][..op.w_in], &inp_p[row..][..op.w_in]);
                    for j2 in 0..n2 {
                        let i = x0 + j2 * op.dilation;
                        gi[i] += pick(go, inp[i], vo);
                    }
                }
            }
        }
    })
}

impl super::Pool2DKind {
    fn init<E: Float>(&self) -> E {
        match self {
            super::Pool2DKind::Avg => E::zero(),
            super::Pool2DKind::Min => E::infinity(),
            super::Pool2DKind::Max => E::neg_infinity(),
        }
    }

    fn accum<E: Float>(&self, accum: &E, item: &E) -> E {
        match self {
            super::Pool2DKind::Avg => *accum + *item,
            super::Pool2DKind::Min => accum.min(*item),
            super::Pool2DKind::Max => accum.max(*item),
        }
    }

    fn normalize<E: Float + FromPrimitive>(&self, item: E, num_elements: usize) -> E {
        match self {
            super::Pool2DKind::Avg => item * E::from_f64(1.0 / num_elements as f64).unwrap(),
            super::Pool2DKind::Min => item,
            super::Pool2DKind::Max => item,
        }
    }

    fn filter<E: Float>(&self, item: E, needle: E, haystack: E) -> E {
        match self {
            super::Pool2DKind::Avg => item,
            super::Pool2DKind::Min => {
                if needle == haystack {
                    item
                } else {
                    E::zero()
                }
            }
            super::Pool2DKind::Max => {
                if needle == haystack {
                    item
                } else {
                    E::zero()
                }
            }
        }
    }
}

impl<E: Float + Dtype> super::Pool2DKernel<E> for Cpu {
    fn alloc<S: Shape>(&self, s: S) -> Result<Tensor<S, E, Self>, Self::Err> {
        self.try_zeros_like(&s)
    }
    fn forward<I: Shape, O: Shape>(
        &self,
        op: super::Pool2DOp,
        inp: &Tensor<I, E, Self>,
        out: &mut Tensor<O, E, Self>,
    ) -> Result<(), Self::Err> {
        let istr = make_4d::<I>(inp.strides);
        let ostr = make_4d::<O>(out.strides);

        let buf = inp.data.as_ref();
        let planes = dense_planes::<I, O, E>(&op, inp, out);
        let out_buf = Arc::make_mut(&mut out.data);
        let (rows, cols) = window_spans(&op);
        if let Some([plane_i, plane_o]) = planes {
            // One image plane at a time, in parallel, with the kind of pooling chosen once: the
            // same operations per element as below.
            let scale = op.kind.normalize(E::one(), op.kernel * op.kernel);
            let (rows, cols) = (&rows[..], &cols[..]);
            let planes = (&buf[..], &mut out_buf[..], plane_i, plane_o, scale);
            match op.kind {
                super::Pool2DKind::Avg => pool_planes(&op, rows, cols, planes, |a, b| a + b),
                super::Pool2DKind::Min => pool_planes(&op, rows, cols, planes, |a, b| a.min(b)),
                super::Pool2DKind::Max => pool_planes(&op, rows, cols, planes, |a, b| a.max(b)),
            }
            return Ok(());
        }
        for b in 0..op.batch {
            for c in 0..op.chan {
                let inp_bc = b * istr[0] + c * istr[1];
                for (oh, &(n1, y0)) in rows.iter().enumerate() {
                    for (ow, &(n2, x0)) in cols.iter().enumerate() {
                        let mut tmp = op.kind.init();
                        for j1 in 0..n1 {
                            let row = inp_bc + (y0 + j1 * op.dilation) * istr[2];
                            for j2 in 0..n2 {
                                let inp_idx = row + (x0 + j2 * op.dilation) * istr[3];
                                tmp = op.kind.accum(&tmp, &buf[inp_idx]);
                            }
                        }
                        tmp = op.kind.normalize(tmp, op.kernel * op.kernel);
                        out_buf[b * ostr[0] + c * ostr[1] + oh * ostr[2] + ow * ostr[3]] = tmp;
                    }
                }
            }
        }
        Ok(())
    }
    fn backward<I: Shape, O: Shape>(
        &self,
        op: super::Pool2DOp,
        inp: &Tensor<I, E, Self>,
        grad_inp: &mut Self::Vec,
        out: &Tensor<O, E, Self>,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        let istr = make_4d::<I>(inp.strides);
        let ostr = make_4d::<O>(out.strides);

        let inp_buf = inp.data.as_ref();
        let out_buf = out.data.as_ref();

        let (rows, cols) = window_spans(&op);
        if let Some([plane_i, plane_o]) = dense_planes::<I, O, E>(&op, inp, out) {
            // One image plane at a time, in parallel, with the kind of pooling chosen once: each
            // element of `grad_inp` gets the same terms in the same order as below.
            let scale = op.kind.normalize(E::one(), op.kernel * op.kernel);
            let (rows, cols) = (&rows[..], &cols[..]);
            let (inp, out) = (&inp_buf[..], &out_buf[..]);
            let planes = (inp, &mut grad_inp[..], out, &grad_out[..], [plane_i, plane_o], scale);
            match op.kind {
                super::Pool2DKind::Avg => unpool_planes(&op, rows, cols, planes, |go, _, _| go),
                _ => unpool_planes(&op, rows, cols, planes, |go, x, vo| {
                    if x == vo {
                        go
                    } else {
                        E::zero()
                    }
                }),
            }
            return Ok(());
        }
        for b in 0..op.batch {
            for c in 0..op.chan {
                let inp_bc = b * istr[0] + c * istr[1];
                for (oh, &(n1, y0)) in rows.iter().enumerate() {
                    for (ow, &(n2, x0)) in cols.iter().enumerate() {
                        let out_idx = b * ostr[0] + c * ostr[1] + oh * ostr[2] + ow * ostr[3];
                        let go = grad_out[out_idx];
                        let go = op.kind.normalize(go, op.kernel * op.kernel);
                        let vo = out_buf[out_idx];

                        for j1 in 0..n1 {
                            let row = inp_bc + (y0 + j1 * op.dilation) * istr[2];
                            for j2 in 0..n2 {
                                let inp_idx = row + (x0 + j2 * op.dilation) * istr[3];
                                grad_inp[inp_idx] += op.kind.filter(go, inp_buf[inp_idx], vo);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
