use crate::prelude::cpu::{LendingIterator, NdIndex};

use super::*;

/// The length of the runs of consecutive elements a slice copies, when its last axis has stride 1
/// in the input (a patch of the Autoencoders-in-Rust book, see its vendor/README.md: the copies
/// below go run by run instead of computing a strided index per element; the same elements are
/// copied to the same places).
fn run_length<D: Shape, S: AsRef<[usize]>>(dst: &D, strides: &S) -> Option<usize> {
    let dims = dst.concrete();
    let (dims, strides) = (dims.as_ref(), strides.as_ref());
    let last = dims.len().checked_sub(1)?;
    (strides[last] == 1 && dims.iter().all(|&d| d > 0)).then(|| dims[last])
}

/// Calls `f(src, dst)` for every run along the last axis of the row-major positions `dims`:
/// `src` is the run's first index with `strides`, `dst` its first position in row-major order.
fn for_each_run(dims: &[usize], strides: &[usize], mut f: impl FnMut(usize, usize)) {
    let outer = dims.len() - 1;
    let run = dims[outer];
    let mut idx = std::vec![0usize; outer];
    let (mut src, mut dst) = (0usize, 0usize);
    loop {
        f(src, dst);
        dst += run;
        let mut k = outer;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            src += strides[k];
            if idx[k] < dims[k] {
                break;
            }
            src -= strides[k] * dims[k];
            idx[k] = 0;
        }
    }
}

impl<E: Unit> SliceKernel<E> for Cpu {
    fn forward<Src: Shape + SliceShape<Slice>, Slice>(
        &self,
        inp: &Tensor<Src, E, Self>,
        slice: &Slice,
    ) -> Result<Tensor<Src::Sliced, E, Self>, Self::Err> {
        let dst = inp.shape.slice(slice).unwrap();
        let mut out = self.try_zeros_like(&dst)?;

        let start_idx = NdIndex::new(inp.shape, inp.strides)
            .get_strided_index(inp.shape.first_idx_in_slice(slice));
        let view = &inp.data[start_idx..];

        if let Some(run) = run_length(&dst, &inp.strides) {
            let out_buf = std::sync::Arc::get_mut(&mut out.data).unwrap();
            for_each_run(dst.concrete().as_ref(), inp.strides.as_ref(), |src, dst| {
                out_buf[dst..dst + run].copy_from_slice(&view[src..src + run])
            });
            return Ok(out);
        }

        let mut inp_idx = NdIndex::new(dst, inp.strides);
        let mut out_iter = out.iter_mut();

        while let Some((inp_i, o)) = inp_idx.next().zip(out_iter.next()) {
            *o = view[inp_i];
        }

        Ok(out)
    }

    fn backward<Src: Shape + SliceShape<Slice>, Slice>(
        &self,
        inp: &Tensor<Src, E, Self>,
        grad_inp: &mut Self::Vec,
        grad_out: &Self::Vec,
        slice: &Slice,
    ) -> Result<(), Self::Err> {
        let dst = inp.shape.slice(slice).unwrap();

        let start_idx = NdIndex::new(inp.shape, inp.strides)
            .get_strided_index(inp.shape.first_idx_in_slice(slice));
        let view = &mut grad_inp[start_idx..];

        if let Some(run) = run_length(&dst, &inp.strides) {
            for_each_run(dst.concrete().as_ref(), inp.strides.as_ref(), |src, dst| {
                view[src..src + run].copy_from_slice(&grad_out[dst..dst + run])
            });
            return Ok(());
        }

        let mut inp_idx = NdIndex::new(dst, inp.strides);
        let mut out_iter = grad_out.iter();

        while let Some((inp_i, o)) = inp_idx.next().zip(out_iter.next()) {
            view[inp_i] = *o;
        }

        Ok(())
    }
}
