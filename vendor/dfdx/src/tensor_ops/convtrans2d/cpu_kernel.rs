use crate::prelude::Tensorlike;
use crate::shapes::{Dtype, Shape};
use crate::tensor::{cpu::*, Tensor, ZerosTensor};
use crate::tensor_ops::matmul::cpu_kernel::MatMulImpl;
use crate::tensor_ops::utilities::cpu_kernels::{
    fold_strided_add, map_chunks, unfold_dilated, unfold_strided, CONV_GROUP,
};

use std::sync::Arc;

use super::{ConvTrans2DKernel, ConvTrans2DOp};

impl Cpu {
    #[inline]
    fn convtrans2d_forward<E: Dtype>(
        &self,
        op: &ConvTrans2DOp,
        img: &[E],
        filters_tr: &[E],
        out: &mut [E],
        buf: &mut [E],
    ) -> Result<(), CpuError>
    where
        Self: MatMulImpl<E>,
    {
        unfold_dilated(
            img,
            [op.h_in, op.w_in],
            buf,
            [op.h_out, op.w_out],
            op.chan_in,
            op.kernel,
            [op.stride, op.padding, op.dilation],
        );

        // filters_tr: (G, O/G, C/G*K*K)
        // patches: (G, C/G*K*K, OH*OW)
        // output: (G, O/G, OH*OW)
        let m = op.chan_out / op.groups;
        let k = (op.chan_in / op.groups) * op.kernel * op.kernel;
        let n = op.w_out * op.h_out;
        for g in 0..op.groups {
            Self::matmul(
                (m, k, n),
                false,
                filters_tr[g * m * k..].as_ptr(),
                [k, 1],
                buf[g * k * n..].as_ptr(),
                [n, 1],
                out[g * m * n..].as_mut_ptr(),
                [n, 1],
            );
        }
        Ok(())
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn convtrans2d_backward<E: Dtype>(
        &self,
        op: &ConvTrans2DOp,
        img: &[E],
        grad_img: &mut [E],
        filters: &[E],
        grad_filters: &mut [E],
        grad_out: &[E],
        buf: &mut [E],
    ) -> Result<(), CpuError>
    where
        Self: MatMulImpl<E>,
    {
        unfold_strided(
            grad_out,
            [op.h_out, op.w_out],
            buf,
            [op.h_in, op.w_in],
            op.chan_out,
            op.kernel,
            [op.stride, op.padding, op.dilation],
        );

        {
            // filters: (G, C/G, O/G*K*K)
            // buf: (G, O/G*K*K, H*W)
            // grad_img: (G, C/G, H * W)
            let m = op.chan_in / op.groups;
            let k = (op.chan_out / op.groups) * op.kernel * op.kernel;
            let n = op.h_in * op.w_in;
            for g in 0..op.groups {
                Self::matmul(
                    (m, k, n),
                    true,
                    filters[g * m * k..].as_ptr(),
                    [k, 1],
                    buf[g * k * n..].as_ptr(),
                    [n, 1],
                    grad_img[g * m * n..].as_mut_ptr(),
                    [n, 1],
                );
            }
        }

        {
            // img: (G, C/G, H * W)
            // buf: (G, H * W, O/G * K * K)
            // grad_filters: (G, C/G, O/G * K * K)
            let m = op.chan_in / op.groups;
            let k = op.h_in * op.w_in;
            let n = (op.chan_out / op.groups) * op.kernel * op.kernel;
            for g in 0..op.groups {
                Self::matmul(
                    (m, k, n),
                    true,
                    img[g * m * k..].as_ptr(),
                    [k, 1],
                    buf[g * k * n..].as_ptr(),
                    [1, k],
                    grad_filters[g * m * n..].as_mut_ptr(),
                    [n, 1],
                );
            }
        }
        Ok(())
    }
}

impl<E: Dtype> ConvTrans2DKernel<E> for Cpu
where
    Self: MatMulImpl<E>,
{
    fn alloc<S: Shape>(&self, s: S) -> Result<Tensor<S, E, Self>, Self::Err> {
        self.try_zeros_like(&s)
    }

    fn forward<L: Shape, R: Shape, O: Shape>(
        &self,
        op: ConvTrans2DOp,
        lhs: &Tensor<L, E, Self>,
        rhs: &Tensor<R, E, Self>,
        out: &mut Tensor<O, E, Self>,
    ) -> Result<(), Self::Err> {
        // Images are dense (checked by `try_convtrans2d`), `[lstride, ostride]` elements each.
        let lstride = op.chan_in * op.h_in * op.w_in;
        let ostride = op.chan_out * op.h_out * op.w_out;
        let lhs = lhs.data.as_ref();
        if op.chan_out * op.h_in * op.w_in < op.chan_in * op.h_out * op.w_out {
            // The products of the filters with the input, folded into the output (zeroed by
            // `alloc`): less work than unfolding the input when the products are the smaller, as
            // with a stride above 1, where most of the unfolded input is zeros. Groups of images
            // in parallel.
            let rhs = rhs.data.as_ref();
            let c = op.chan_in / op.groups;
            let o = (op.chan_out / op.groups) * op.kernel * op.kernel;
            let n = op.h_in * op.w_in;
            let init = || self.try_alloc_zeros::<E>(op.groups * o * n);
            let out = Arc::make_mut(&mut out.data);
            let groups = map_chunks(&mut out[..], CONV_GROUP * ostride, &init, &|buf, g, out| {
                let buf = buf.as_mut().map_err(|e| e.clone())?;
                for (j, out) in out.chunks_exact_mut(ostride).enumerate() {
                    let img = &lhs[(g * CONV_GROUP + j) * lstride..];
                    for g in 0..op.groups {
                        // buf (G, O/G*K*K, H*W) = filters^T * img
                        Self::matmul(
                            (o, c, n),
                            false,
                            rhs[g * c * o..].as_ptr(),
                            [1, o],
                            img[g * c * n..].as_ptr(),
                            [n, 1],
                            buf[g * o * n..].as_mut_ptr(),
                            [n, 1],
                        );
                    }
                    let (hw_in, hw_out) = ([op.h_in, op.w_in], [op.h_out, op.w_out]);
                    let s_p_d = [op.stride, op.padding, op.dilation];
                    fold_strided_add(buf, hw_in, out, hw_out, op.chan_out, op.kernel, s_p_d);
                }
                Ok::<(), CpuError>(())
            });
            return groups.into_iter().collect();
        }
        let patches = (op.chan_in, op.kernel, op.kernel, op.h_out, op.w_out);
        let f_tr_shape = [
            op.groups,
            op.chan_out / op.groups,
            op.chan_in / op.groups,
            op.kernel,
            op.kernel,
        ];
        let mut f_tr = self.try_alloc_zeros::<E>(f_tr_shape.num_elements())?;

        {
            // transpose filters in f1023
            let buf = rhs.data.as_ref();
            let mut f_idx = NdIndex::new(f_tr_shape, f_tr_shape.strides());
            while let Some((i, [g, o_over_g, c_over_g, k1, k2])) = f_idx.next_with_idx() {
                let idx = (g * (op.chan_in / op.groups) + c_over_g) * rhs.strides[0]
                    + o_over_g * rhs.strides[1]
                    + k1 * rhs.strides[2]
                    + k2 * rhs.strides[3];
                f_tr[i] = buf[idx];
            }
        }

        let out = Arc::make_mut(&mut out.data);
        // Groups of images in parallel, each image computed as before.
        let init = || self.try_alloc_zeros::<E>(patches.num_elements());
        let groups = map_chunks(&mut out[..], CONV_GROUP * ostride, &init, &|patches, g, out| {
            let patches = patches.as_mut().map_err(|e| e.clone())?;
            for (j, out) in out.chunks_exact_mut(ostride).enumerate() {
                let i_batch = g * CONV_GROUP + j;
                self.convtrans2d_forward(&op, &lhs[i_batch * lstride..], &f_tr, out, patches)?;
            }
            Ok::<(), CpuError>(())
        });
        groups.into_iter().collect()
    }

    fn backward<L: Shape, R: Shape, O: Shape>(
        &self,
        op: ConvTrans2DOp,
        lhs: &Tensor<L, E, Self>,
        grad_lhs: &mut Self::Vec,
        rhs: &Tensor<R, E, Self>,
        grad_rhs: &mut Self::Vec,
        out: &impl Tensorlike<O, E, Self>,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        let patches_shape = [op.chan_out, op.kernel, op.kernel, op.h_in, op.w_in];
        // Images are dense (checked by `try_convtrans2d`), `[lstride, ostride]` elements each.
        let lstride = op.chan_in * op.h_in * op.w_in;
        let ostride = op.chan_out * op.h_out * op.w_out;
        let lhs = lhs.data.as_ref();
        let rhs = rhs.data.as_ref();

        // Groups of images in parallel: each its images' input gradients and the sum of their
        // filter gradients, which are then added up group by group, in order.
        let init = || self.try_alloc_zeros::<E>(patches_shape.num_elements());
        let group = CONV_GROUP * lstride;
        let groups = map_chunks(&mut grad_lhs[..], group, &init, &|patches, g, grad_lhs| {
            let patches = patches.as_mut().map_err(|e| e.clone())?;
            let mut grad_f = self.try_alloc_zeros::<E>(rhs.len())?;
            for (j, grad_lhs) in grad_lhs.chunks_exact_mut(lstride).enumerate() {
                let i_batch = g * CONV_GROUP + j;
                self.convtrans2d_backward(
                    &op,
                    &lhs[i_batch * lstride..],
                    grad_lhs,
                    rhs,
                    &mut grad_f,
                    &grad_out[i_batch * ostride..],
                    patches,
                )?;
            }
            Ok::<_, CpuError>(grad_f)
        });
        for grad_f in groups {
            for (acc, g) in grad_rhs.iter_mut().zip(grad_f?.iter()) {
                *acc += *g;
            }
        }

        Ok(())
    }
}
