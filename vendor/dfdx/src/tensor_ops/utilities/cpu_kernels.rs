use std::borrow::Cow;

use super::ops::{BinaryKernel, UnaryKernel};
use crate::{
    shapes::{Dtype, Shape},
    tensor::{
        cpu::{Cpu, LendingIterator, NdIndex},
        unique_id, Tensor, Tensorlike, ZerosTensor,
    },
};

/// Elementwise loops over at least this many elements are split into chunks of
/// [PARALLEL_CHUNK] elements and run on rayon's threads (a patch of the Autoencoders-in-Rust
/// book, see its vendor/README.md). Each element is computed the same way whichever thread runs
/// it, so results do not depend on the thread count.
pub(crate) const PARALLEL_MIN_LEN: usize = 1 << 15;
pub(crate) const PARALLEL_CHUNK: usize = 1 << 13;

/// Runs `f` compiled for AVX-512 or AVX2 when the CPU has it (the loops in `f` are then
/// vectorised 16 or 8 floats wide instead of SSE2's 4). The same IEEE operations run either way,
/// so results are the same.
#[inline(always)]
pub(crate) fn with_widest_simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::arch::is_x86_feature_detected!("avx512f") {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { avx512(f) };
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2(f) };
    }
    f()
}

/// Calls `f(offset, chunk)` on consecutive chunks of `buf`, in parallel for long buffers.
///
/// `f` is compiled once per call site (with [with_widest_simd] inside it); the chunking and
/// rayon's machinery behind [run_chunks] take it as a trait object, so they are compiled once per
/// element type rather than once per operation, which kept every crate that instantiates the
/// kernels compiling several times longer.
#[inline(always)]
fn for_each_chunk<T: Send, F: Fn(usize, &mut [T]) + Sync + Send>(buf: &mut [T], f: F) {
    run_chunks(buf, &move |o: usize, chunk: &mut [T]| {
        with_widest_simd(#[inline(always)] || f(o, chunk))
    })
}

pub(crate) fn run_chunks<T: Send>(buf: &mut [T], f: &(dyn Fn(usize, &mut [T]) + Sync)) {
    #[cfg(feature = "cpu")]
    if buf.len() >= PARALLEL_MIN_LEN {
        use rayon::prelude::*;
        buf.par_chunks_mut(PARALLEL_CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| f(i * PARALLEL_CHUNK, chunk));
        return;
    }
    f(0, buf)
}

/// Like [for_each_chunk], over two buffers of the same length chunked alike.
#[inline(always)]
fn for_each_chunk2<T: Send, F: Fn(usize, &mut [T], &mut [T]) + Sync + Send>(
    a: &mut [T],
    b: &mut [T],
    f: F,
) {
    debug_assert_eq!(a.len(), b.len());
    run_chunks2(a, b, &move |o: usize, a: &mut [T], b: &mut [T]| {
        with_widest_simd(#[inline(always)] || f(o, a, b))
    })
}

fn run_chunks2<T: Send>(a: &mut [T], b: &mut [T], f: &(dyn Fn(usize, &mut [T], &mut [T]) + Sync)) {
    #[cfg(feature = "cpu")]
    if a.len() >= PARALLEL_MIN_LEN {
        use rayon::prelude::*;
        a.par_chunks_mut(PARALLEL_CHUNK)
            .zip(b.par_chunks_mut(PARALLEL_CHUNK))
            .enumerate()
            .for_each(|(i, (a, b))| f(i * PARALLEL_CHUNK, a, b));
        return;
    }
    f(0, a, b)
}

/// Calls `f(p, plane)` on the consecutive planes of `plane` elements of `buf` (`p` counting them),
/// in parallel, whole planes at a time, for long buffers.
pub(crate) fn for_each_plane<T: Send>(
    buf: &mut [T],
    plane: usize,
    f: &(dyn Fn(usize, &mut [T]) + Sync),
) {
    if plane == 0 {
        return;
    }
    #[cfg(feature = "cpu")]
    if buf.len() >= PARALLEL_MIN_LEN {
        use rayon::prelude::*;
        let per = (PARALLEL_CHUNK / plane).max(1);
        buf.par_chunks_mut(per * plane)
            .enumerate()
            .for_each(|(i, planes)| {
                for (j, x) in planes.chunks_exact_mut(plane).enumerate() {
                    f(i * per + j, x)
                }
            });
        return;
    }
    for (p, x) in buf.chunks_exact_mut(plane).enumerate() {
        f(p, x)
    }
}

/// Images per task of the convolution kernels (a patch of the Autoencoders-in-Rust book): a batch
/// is split into groups of this many images, run in parallel; a weight gradient is summed per
/// group, then over the groups in order, so the result does not depend on the thread count.
pub(crate) const CONV_GROUP: usize = 8;

/// `f(state, i, chunk)` for the consecutive chunks of `chunk` elements of `buf` (the last may be
/// shorter), in parallel, the results in order; `state` is a scratch value made by `init`, one
/// per batch of chunks a thread takes (its contents must not matter to the result).
pub(crate) fn map_chunks<T: Send, S, R: Send>(
    buf: &mut [T],
    chunk: usize,
    init: &(dyn Fn() -> S + Sync),
    f: &(dyn Fn(&mut S, usize, &mut [T]) -> R + Sync),
) -> Vec<R> {
    #[cfg(feature = "cpu")]
    {
        use rayon::prelude::*;
        buf.par_chunks_mut(chunk.max(1))
            .enumerate()
            .map_init(init, |s, (i, c)| f(s, i, c))
            .collect()
    }
    #[cfg(not(feature = "cpu"))]
    {
        let mut s = init();
        buf.chunks_mut(chunk.max(1)).enumerate().map(|(i, c)| f(&mut s, i, c)).collect()
    }
}

/// Whether `t` is laid out densely in row-major order (no broadcast or permuted axis).
#[inline]
fn is_dense<S: Shape, E: Dtype, T: Tensorlike<S, E, Cpu>>(t: &T) -> bool {
    t.strides() == t.shape().strides()
}

/// If `t` is a dense tensor broadcast along leading axes (strides `[0, …, 0, dense strides]`, as
/// a bias broadcast over a batch is), the length of the run its buffer repeats with.
#[inline]
fn leading_broadcast_period<S: Shape, E: Dtype, T: Tensorlike<S, E, Cpu>>(t: &T) -> Option<usize> {
    let (strides, dense) = (t.strides(), t.shape().strides());
    let dims = t.shape().concrete();
    let k = strides.as_ref().iter().take_while(|&&s| s == 0).count();
    let suffix_dense = (k..S::NUM_DIMS).all(|j| strides[j] == dense[j] || dims[j] == 1);
    let period: usize = (k..S::NUM_DIMS).map(|j| dims[j]).product();
    (k > 0 && suffix_dense && period > 0).then_some(period)
}

/// Calls `f(x, p)` for each element `x` of `chunk`, which starts at flat index `offset` of a
/// tensor, and the element `p` of `period` that a tensor repeating `period` pairs with it.
#[inline(always)]
fn zip_periodic<E, F: Fn(&mut E, &E)>(chunk: &mut [E], offset: usize, period: &[E], f: F) {
    let mut start = offset % period.len();
    let mut rest = chunk;
    while !rest.is_empty() {
        let n = (period.len() - start).min(rest.len());
        let (run, tail) = rest.split_at_mut(n);
        for (x, p) in run.iter_mut().zip(&period[start..start + n]) {
            f(x, p);
        }
        rest = tail;
        start = 0;
    }
}

/// If `t` is a dense vector broadcast along leading and trailing axes (strides `[0, …, 0, dense
/// strides, 0, …, 0]` with at least one trailing 0, as a per-channel bias broadcast over a batch
/// of images is), the vector's length and the length of the runs of consecutive elements that
/// share one of its values.
#[inline]
fn channel_broadcast<S: Shape, E: Dtype, T: Tensorlike<S, E, Cpu>>(
    t: &T,
) -> Option<(usize, usize)> {
    let (strides, dims) = (t.strides(), t.shape().concrete());
    let n = S::NUM_DIMS;
    let lead = strides.as_ref().iter().take_while(|&&s| s == 0).count();
    let trail = strides.as_ref()[lead..].iter().rev().take_while(|&&s| s == 0).count();
    let mid = lead..n - trail;
    let mut expected = 1;
    for j in mid.clone().rev() {
        if strides[j] != expected && dims[j] != 1 {
            return None;
        }
        expected *= dims[j];
    }
    let len: usize = mid.map(|j| dims[j]).product();
    let run: usize = (n - trail..n).map(|j| dims[j]).product();
    (trail > 0 && len > 0 && run > 0).then_some((len, run))
}

/// `acc[m] += dy * grad_out[o, m, i]` for the `L` values `m0..m0 + L` of `m`, over every `o` and
/// `i` in that order (`grad_out` is `[outer][len][run]`): for each `m`, the order in which a
/// strided walk over `grad_out` adds its elements; the `L` sums are independent, so they run
/// side by side.
#[inline(always)]
fn sum_runs<E: Dtype, const L: usize>(gr: &mut [E], m0: usize, grad_out: &[E], run: usize, dy: E) {
    let len = gr.len();
    let mut acc: [E; L] = core::array::from_fn(|l| gr[m0 + l]);
    for block in grad_out.chunks_exact(len * run) {
        let rows: [&[E]; L] = core::array::from_fn(|l| &block[(m0 + l) * run..][..run]);
        for i in 0..run {
            for l in 0..L {
                acc[l] += dy * rows[l][i];
            }
        }
    }
    gr[m0..m0 + L].copy_from_slice(&acc);
}

pub trait UnaryDerivative<E> {
    /// Whether the [UnaryDerivative::df] function can re-use the output
    /// from [UnaryDerivative::f].
    const DF_USES_FX: bool;
    /// Whether the derivative of this op can be computed without
    /// any data.
    const HAS_CONST_DF: bool;

    fn f(&self, x: &E) -> E;

    /// Receives `f(x)` if [UnaryDerivative::DF_USES_FX] is true,
    /// otherwise `x`.
    fn df(&self, x: &E) -> E;

    fn const_df(&self) -> E {
        unimplemented!()
    }
}

pub trait BinaryDerivative<E>: std::fmt::Debug {
    /// Whether the derivative of this op can be computed without
    /// any data.
    const HAS_CONST_DF: bool;
    fn f(&self, x: &E, y: &E) -> E;
    fn dfdx(&self, x: &E, y: &E) -> E;
    fn dfdy(&self, x: &E, y: &E) -> E;
    fn const_dfdx(&self) -> E {
        unimplemented!()
    }
    fn const_dfdy(&self) -> E {
        unimplemented!()
    }
}

impl<E: Dtype, Op: UnaryDerivative<E> + Sync> UnaryKernel<Op, E> for Cpu {
    const BACKWARD_WITHOUT_INP: bool = Op::DF_USES_FX;
    const BACKWARD_WITHOUT_DATA: bool = Op::HAS_CONST_DF;

    fn forward<S: Shape>(
        &self,
        op: Op,
        inp: Cow<Tensor<S, E, Self>>,
    ) -> Result<Tensor<S, E, Self>, Self::Err> {
        let mut out = match inp {
            Cow::Borrowed(inp) => {
                // allocate a new data buffer
                Tensor {
                    id: unique_id(),
                    data: inp.data.clone(),
                    shape: inp.shape,
                    strides: inp.strides,
                    device: self.clone(),
                    tape: Default::default(),
                }
            }
            Cow::Owned(mut inp) => {
                // re-use the data buffer
                inp.id = unique_id();
                inp
            }
        };
        // NOTE: we can iterate over buf here because we know inp & out
        // have exact same strides due to clone.
        for_each_chunk(&mut std::sync::Arc::make_mut(&mut out.data)[..], #[inline(always)] |_, chunk| {
            for x in chunk {
                *x = op.f(x);
            }
        });
        Ok(out)
    }
    fn backward<S: Shape>(
        &self,
        op: Op,
        inp: &impl Tensorlike<S, E, Self>,
        grad_inp: &mut Self::Vec,
        out: &impl Tensorlike<S, E, Self>,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        match (inp.data(), out.data()) {
            (None, None) => {
                let df = op.const_df();
                for_each_chunk(grad_inp, #[inline(always)] |o, gi| {
                    for (x, go) in gi.iter_mut().zip(&grad_out[o..]) {
                        *x += df * *go;
                    }
                });
            }
            (None, Some(out)) => {
                for_each_chunk(grad_inp, #[inline(always)] |o, gi| {
                    for ((x, go), y) in gi.iter_mut().zip(&grad_out[o..]).zip(&out[o..]) {
                        *x += op.df(y) * *go;
                    }
                });
            }
            (Some(inp), None) => {
                for_each_chunk(grad_inp, #[inline(always)] |o, gi| {
                    for ((x, go), y) in gi.iter_mut().zip(&grad_out[o..]).zip(&inp[o..]) {
                        *x += op.df(y) * *go;
                    }
                });
            }
            _ => unreachable!(),
        }
        Ok(())
    }
}

impl<E: Dtype, Op: BinaryDerivative<E> + Sync> BinaryKernel<Op, E> for Cpu {
    const BACKWARD_WITHOUT_DATA: bool = Op::HAS_CONST_DF;
    const SKIPS_EMPTY_GRAD_RHS: bool = true;
    fn forward<S: Shape>(
        &self,
        op: Op,
        lhs: Cow<Tensor<S, E, Self>>,
        rhs: Cow<Tensor<S, E, Self>>,
    ) -> Result<Tensor<S, E, Self>, Self::Err> {
        match (lhs, rhs) {
            (Cow::Borrowed(lhs), Cow::Borrowed(rhs)) if is_dense(lhs) && is_dense(rhs) => {
                // Both dense: write the output in one pass, without zero-filling it first.
                let len = lhs.data.len();
                let mut data: Vec<E> = Vec::new();
                data.try_reserve_exact(len)
                    .map_err(|_| crate::tensor::CpuError::OutOfMemory)?;
                let (l, r) = (&lhs.data[..], &rhs.data[..]);
                for_each_chunk(&mut data.spare_capacity_mut()[..len], #[inline(always)] |o, chunk| {
                    for ((slot, l), r) in chunk.iter_mut().zip(&l[o..]).zip(&r[o..]) {
                        slot.write(op.f(l, r));
                    }
                });
                // SAFETY: every one of the `len` elements was written just above.
                unsafe { data.set_len(len) };
                Ok(Tensor {
                    id: unique_id(),
                    data: std::sync::Arc::new(crate::tensor::cpu::CachableVec {
                        data,
                        cache: self.cache.clone(),
                    }),
                    shape: lhs.shape,
                    strides: lhs.strides,
                    device: self.clone(),
                    tape: Default::default(),
                })
            }
            (Cow::Borrowed(lhs), Cow::Borrowed(rhs)) => {
                let mut out = self.try_zeros_like(&lhs.shape)?;
                let mut lhs_iter = lhs.iter();
                let mut rhs_iter = rhs.iter();
                for o in out.buf_iter_mut() {
                    let l = lhs_iter.next().unwrap();
                    let r = rhs_iter.next().unwrap();
                    *o = op.f(l, r);
                }
                Ok(out)
            }
            (Cow::Owned(mut lhs), Cow::Owned(mut rhs)) if is_dense(&lhs) && is_dense(&rhs) => {
                // Both dense: compute in place in whichever buffer nobody else holds.
                if std::sync::Arc::strong_count(&rhs.data) == 1 {
                    rhs.id = unique_id();
                    let l = &lhs.data[..];
                    for_each_chunk(&mut std::sync::Arc::make_mut(&mut rhs.data)[..], #[inline(always)] |o, chunk| {
                        for (r, l) in chunk.iter_mut().zip(&l[o..]) {
                            *r = op.f(l, r);
                        }
                    });
                    Ok(rhs)
                } else {
                    lhs.id = unique_id();
                    let r = &rhs.data[..];
                    for_each_chunk(&mut std::sync::Arc::make_mut(&mut lhs.data)[..], #[inline(always)] |o, chunk| {
                        for (l, r) in chunk.iter_mut().zip(&r[o..]) {
                            *l = op.f(l, r);
                        }
                    });
                    Ok(lhs)
                }
            }
            (Cow::Owned(mut lhs), Cow::Owned(rhs))
                if is_dense(&lhs) && leading_broadcast_period(&rhs).is_some() =>
            {
                // A dense tensor plus a broadcast one (a bias): in place, row by row.
                let period = leading_broadcast_period(&rhs).unwrap();
                lhs.id = unique_id();
                let r = &rhs.data[..period];
                for_each_chunk(
                    &mut std::sync::Arc::make_mut(&mut lhs.data)[..],
                    #[inline(always)]
                    |o, chunk| zip_periodic(chunk, o, r, |l, r| *l = op.f(l, r)),
                );
                Ok(lhs)
            }
            (Cow::Owned(mut lhs), Cow::Owned(rhs))
                if is_dense(&lhs) && channel_broadcast(&rhs).is_some() =>
            {
                // A dense tensor plus a per-channel one (a convolution's bias): in place, one
                // value of `rhs` per run.
                let (len, run) = channel_broadcast(&rhs).unwrap();
                lhs.id = unique_id();
                let r = &rhs.data[..len];
                for_each_chunk(
                    &mut std::sync::Arc::make_mut(&mut lhs.data)[..],
                    #[inline(always)]
                    |o, chunk| {
                        let (mut i, mut rest) = (o, chunk);
                        while !rest.is_empty() {
                            let n = (run - i % run).min(rest.len());
                            let (part, tail) = rest.split_at_mut(n);
                            let r = &r[(i / run) % len];
                            for l in part.iter_mut() {
                                *l = op.f(l, r);
                            }
                            (i, rest) = (i + n, tail);
                        }
                    },
                );
                Ok(lhs)
            }
            (Cow::Owned(mut lhs), Cow::Owned(mut rhs)) => {
                let lhs_valid = lhs.strides == lhs.shape.strides();
                let rhs_valid = rhs.strides == rhs.shape.strides();
                if lhs_valid || rhs_valid {
                    let lhs_count = std::sync::Arc::strong_count(&lhs.data);
                    let rhs_count = std::sync::Arc::strong_count(&rhs.data);
                    if rhs_valid && (rhs_count == 1 || !lhs_valid || lhs_count != 1) {
                        rhs.id = unique_id();
                        let mut lhs_idx = NdIndex::new(lhs.shape, lhs.strides);
                        for r in rhs.buf_iter_mut() {
                            *r = op.f(&lhs.data[lhs_idx.next().unwrap()], r);
                        }
                        Ok(rhs)
                    } else {
                        lhs.id = unique_id();
                        let mut rhs_idx = NdIndex::new(rhs.shape, rhs.strides);
                        for l in lhs.buf_iter_mut() {
                            *l = op.f(l, &rhs.data[rhs_idx.next().unwrap()]);
                        }
                        Ok(lhs)
                    }
                } else {
                    <Self as BinaryKernel<Op, E>>::forward(
                        self,
                        op,
                        Cow::Borrowed(&lhs),
                        Cow::Borrowed(&rhs),
                    )
                }
            }
            _ => unreachable!(),
        }
    }
    fn backward<S: Shape>(
        &self,
        op: Op,
        lhs: &impl Tensorlike<S, E, Self>,
        grad_lhs: &mut Self::Vec,
        rhs: &impl Tensorlike<S, E, Self>,
        grad_rhs: &mut Self::Vec,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        // An empty `grad_rhs` for a non-empty `rhs`: its gradient is unneeded
        // (`SKIPS_EMPTY_GRAD_RHS`), so only the left operand's is computed, the same way.
        let mut rhs_scratch;
        let grad_rhs = match (grad_rhs.is_empty() && !grad_lhs.is_empty(), lhs.data(), rhs.data()) {
            (true, Some(lhs_buf), Some(rhs_buf)) if is_dense(lhs) && is_dense(rhs) => {
                for_each_chunk(grad_lhs, #[inline(always)] |o, gl| {
                    let it = gl.iter_mut().zip(&grad_out[o..]);
                    for ((gl, go), (l, r)) in it.zip(lhs_buf[o..].iter().zip(&rhs_buf[o..])) {
                        *gl += op.dfdx(l, r) * *go;
                    }
                });
                return Ok(());
            }
            (true, None, None) if is_dense(lhs) => {
                let dx = op.const_dfdx();
                for_each_chunk(grad_lhs, #[inline(always)] |o, gl| {
                    for (gl, go) in gl.iter_mut().zip(&grad_out[o..]) {
                        *gl += dx * *go;
                    }
                });
                return Ok(());
            }
            (true, ..) => {
                // Other layouts: compute both, into a gradient for `rhs` that is dropped.
                rhs_scratch = self.try_alloc_zeros::<E>(rhs.len())?;
                &mut rhs_scratch
            }
            (false, ..) => grad_rhs,
        };
        match (lhs.data(), rhs.data()) {
            (Some(lhs_buf), Some(rhs_buf)) if is_dense(lhs) && is_dense(rhs) => {
                for_each_chunk2(grad_lhs, grad_rhs, #[inline(always)] |o, gl, gr| {
                    let it = gl.iter_mut().zip(gr.iter_mut()).zip(&grad_out[o..]);
                    for (((gl, gr), go), (l, r)) in it.zip(lhs_buf[o..].iter().zip(&rhs_buf[o..])) {
                        *gl += op.dfdx(l, r) * *go;
                        *gr += op.dfdy(l, r) * *go;
                    }
                });
            }
            (None, None) if is_dense(lhs) && is_dense(rhs) => {
                let dx = op.const_dfdx();
                let dy = op.const_dfdy();
                for_each_chunk2(grad_lhs, grad_rhs, #[inline(always)] |o, gl, gr| {
                    for ((gl, gr), go) in gl.iter_mut().zip(gr.iter_mut()).zip(&grad_out[o..]) {
                        *gl += dx * *go;
                        *gr += dy * *go;
                    }
                });
            }
            (None, None) if is_dense(lhs) && leading_broadcast_period(rhs).is_some() => {
                let period = leading_broadcast_period(rhs).unwrap();
                let dx = op.const_dfdx();
                let dy = op.const_dfdy();
                for_each_chunk(
                    grad_lhs,
                    #[inline(always)]
                    |o, gl| {
                        for (gl, go) in gl.iter_mut().zip(&grad_out[o..]) {
                            *gl += dx * *go;
                        }
                    },
                );
                // The broadcast side sums over the rows, in row order as before (one thread).
                let gr = &mut grad_rhs[..period];
                with_widest_simd(
                    #[inline(always)]
                    || {
                        for row in grad_out.chunks_exact(period) {
                            for (gr, go) in gr.iter_mut().zip(row) {
                                *gr += dy * *go;
                            }
                        }
                    },
                );
            }
            (None, None) if is_dense(lhs) && channel_broadcast(rhs).is_some() => {
                let (len, run) = channel_broadcast(rhs).unwrap();
                let dx = op.const_dfdx();
                let dy = op.const_dfdy();
                for_each_chunk(
                    grad_lhs,
                    #[inline(always)]
                    |o, gl| {
                        for (gl, go) in gl.iter_mut().zip(&grad_out[o..]) {
                            *gl += dx * *go;
                        }
                    },
                );
                // Each value of `rhs` sums its runs in the order a strided walk over `grad_out`
                // would (so with the same result), eight values side by side.
                let gr = &mut grad_rhs[..len];
                with_widest_simd(
                    #[inline(always)]
                    || {
                        let mut m0 = 0;
                        while m0 + 8 <= len {
                            sum_runs::<E, 8>(gr, m0, grad_out, run, dy);
                            m0 += 8;
                        }
                        while m0 < len {
                            sum_runs::<E, 1>(gr, m0, grad_out, run, dy);
                            m0 += 1;
                        }
                    },
                );
            }
            (Some(lhs_buf), Some(rhs_buf)) => {
                let mut lhs_idx = NdIndex::new(*lhs.shape(), lhs.strides());
                let mut rhs_idx = NdIndex::new(*rhs.shape(), rhs.strides());
                // NOTE: we can use .buf_iter() here because we know the outcome of this op is
                // contiguous from forward
                for &go in grad_out.iter() {
                    let lhs_i = lhs_idx.next().unwrap();
                    let rhs_i = rhs_idx.next().unwrap();
                    let l = &lhs_buf[lhs_i];
                    let r = &rhs_buf[rhs_i];
                    grad_lhs[lhs_i] += op.dfdx(l, r) * go;
                    grad_rhs[rhs_i] += op.dfdy(l, r) * go;
                }
            }
            (None, None) => {
                assert!(Op::HAS_CONST_DF);
                let mut lhs_idx = NdIndex::new(*lhs.shape(), lhs.strides());
                let mut rhs_idx = NdIndex::new(*rhs.shape(), rhs.strides());
                let dx = op.const_dfdx();
                let dy = op.const_dfdy();
                for &go in grad_out.iter() {
                    let lhs_i = lhs_idx.next().unwrap();
                    let rhs_i = rhs_idx.next().unwrap();
                    grad_lhs[lhs_i] += dx * go;
                    grad_rhs[rhs_i] += dy * go;
                }
            }
            _ => unreachable!(),
        }
        Ok(())
    }
}

/// The positions `o` in `0..n_o` whose partner `i = o * stride + offset - padding` lies in
/// `0..n_i`, as `(first o, how many, partner of the first o)`; consecutive `o` have partners
/// `stride` apart. (A patch of the Autoencoders-in-Rust book: the convolution kernels' unfolds
/// copy whole spans of rows instead of testing every element.)
#[inline]
pub(crate) fn conv_span(
    stride: usize,
    offset: usize,
    padding: usize,
    n_i: usize,
    n_o: usize,
) -> (usize, usize, usize) {
    let lo = if offset >= padding {
        0
    } else {
        (padding - offset + stride - 1) / stride
    };
    let hi = if n_i + padding > offset {
        ((n_i + padding - offset + stride - 1) / stride).min(n_o)
    } else {
        0
    };
    if hi <= lo {
        (0, 0, 0)
    } else {
        (lo, hi - lo, lo * stride + offset - padding)
    }
}

/// `dst[c, k1, k2, o1, o2] = src[c, o1 * stride + dilation * k1 - padding, o2 * stride +
/// dilation * k2 - padding]`, 0 where that falls outside `src` (the unfold of a convolution's
/// input). `src` holds `chan` dense planes `src_hw`, `dst` the `chan * kernel * kernel` planes
/// `dst_hw`, every element of which is written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn unfold_strided<E: Dtype>(
    src: &[E],
    src_hw: [usize; 2],
    dst: &mut [E],
    dst_hw: [usize; 2],
    chan: usize,
    kernel: usize,
    [stride, padding, dilation]: [usize; 3],
) {
    let ([h_s, w_s], [h_d, w_d]) = (src_hw, dst_hw);
    let zero = E::default();
    let mut planes = dst[..chan * kernel * kernel * h_d * w_d].chunks_exact_mut(h_d * w_d);
    for c in 0..chan {
        let src_c = &src[c * h_s * w_s..][..h_s * w_s];
        for k1 in 0..kernel {
            let (y_lo, y_n, y0) = conv_span(stride, dilation * k1, padding, h_s, h_d);
            for k2 in 0..kernel {
                let (x_lo, x_n, x0) = conv_span(stride, dilation * k2, padding, w_s, w_d);
                let plane = planes.next().unwrap();
                plane[..y_lo * w_d].fill(zero);
                plane[(y_lo + y_n) * w_d..].fill(zero);
                for j in 0..y_n {
                    let src_row = &src_c[(y0 + j * stride) * w_s..][..w_s];
                    let dst_row = &mut plane[(y_lo + j) * w_d..][..w_d];
                    dst_row[..x_lo].fill(zero);
                    dst_row[x_lo + x_n..].fill(zero);
                    let dst_row = &mut dst_row[x_lo..x_lo + x_n];
                    if stride == 1 {
                        dst_row.copy_from_slice(&src_row[x0..x0 + x_n]);
                    } else {
                        for (i, v) in dst_row.iter_mut().enumerate() {
                            *v = src_row[x0 + i * stride];
                        }
                    }
                }
            }
        }
    }
}

/// `dst[c, k1, k2, o1 * stride + dilation * k1 - padding, o2 * stride + dilation * k2 - padding]
/// = src[c, o1, o2]`, 0 at every position of `dst` no `(o1, o2)` lands on (the unfold of a
/// convolution's output gradient, and of a transposed convolution's input). `src` holds `chan`
/// dense planes `src_hw`, `dst` the `chan * kernel * kernel` planes `dst_hw`, every element of
/// which is written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn unfold_dilated<E: Dtype>(
    src: &[E],
    src_hw: [usize; 2],
    dst: &mut [E],
    dst_hw: [usize; 2],
    chan: usize,
    kernel: usize,
    [stride, padding, dilation]: [usize; 3],
) {
    let ([h_s, w_s], [h_d, w_d]) = (src_hw, dst_hw);
    let zero = E::default();
    let mut planes = dst[..chan * kernel * kernel * h_d * w_d].chunks_exact_mut(h_d * w_d);
    for c in 0..chan {
        let src_c = &src[c * h_s * w_s..][..h_s * w_s];
        for k1 in 0..kernel {
            let (y_lo, y_n, y0) = conv_span(stride, dilation * k1, padding, h_d, h_s);
            for k2 in 0..kernel {
                let (x_lo, x_n, x0) = conv_span(stride, dilation * k2, padding, w_d, w_s);
                let plane = planes.next().unwrap();
                // rows no `o1` lands on are zeroed, the others written once
                let mut next = 0;
                for j in 0..y_n {
                    let y = y0 + j * stride;
                    plane[next * w_d..y * w_d].fill(zero);
                    next = y + 1;
                    let src_row = &src_c[(y_lo + j) * w_s..][x_lo..x_lo + x_n];
                    let dst_row = &mut plane[y * w_d..][..w_d];
                    if stride == 1 {
                        dst_row[..x0].fill(zero);
                        dst_row[x0 + x_n..].fill(zero);
                        dst_row[x0..x0 + x_n].copy_from_slice(src_row);
                    } else {
                        dst_row.fill(zero);
                        for (i, &v) in src_row.iter().enumerate() {
                            dst_row[x0 + i * stride] = v;
                        }
                    }
                }
                plane[next * w_d..].fill(zero);
            }
        }
    }
}

/// `dst[c, o1 * stride + dilation * k1 - padding, o2 * stride + dilation * k2 - padding] +=
/// src[c, k1, k2, o1, o2]` where that falls inside `dst`, for each `(k1, k2)` in turn: the adjoint
/// of [unfold_strided] (the gradient of a convolution's input from the products of its filters
/// and output gradient, and a transposed convolution from the products of its filters and
/// input). `src` holds the `chan * kernel * kernel` planes `src_hw`, `dst` `chan` planes `dst_hw`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold_strided_add<E: Dtype>(
    src: &[E],
    src_hw: [usize; 2],
    dst: &mut [E],
    dst_hw: [usize; 2],
    chan: usize,
    kernel: usize,
    [stride, padding, dilation]: [usize; 3],
) {
    let ([h_s, w_s], [h_d, w_d]) = (src_hw, dst_hw);
    let mut planes = src[..chan * kernel * kernel * h_s * w_s].chunks_exact(h_s * w_s);
    for c in 0..chan {
        let dst_c = &mut dst[c * h_d * w_d..][..h_d * w_d];
        for k1 in 0..kernel {
            let (y_lo, y_n, y0) = conv_span(stride, dilation * k1, padding, h_d, h_s);
            for k2 in 0..kernel {
                let (x_lo, x_n, x0) = conv_span(stride, dilation * k2, padding, w_d, w_s);
                let plane = planes.next().unwrap();
                for j in 0..y_n {
                    let src_row = &plane[(y_lo + j) * w_s..][x_lo..x_lo + x_n];
                    let dst_row = &mut dst_c[(y0 + j * stride) * w_d..][..w_d];
                    if stride == 1 {
                        for (d, s) in dst_row[x0..x0 + x_n].iter_mut().zip(src_row) {
                            *d += *s;
                        }
                    } else {
                        for (i, s) in src_row.iter().enumerate() {
                            dst_row[x0 + i * stride] += *s;
                        }
                    }
                }
            }
        }
    }
}
