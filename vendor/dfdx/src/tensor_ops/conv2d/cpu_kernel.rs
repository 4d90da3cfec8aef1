use crate::shapes::{Dtype, Shape};
use crate::tensor::{cpu::*, *};
use crate::tensor_ops::matmul::cpu_kernel::MatMulImpl;
use crate::tensor_ops::utilities::cpu_kernels::{
    fold_strided_add, map_chunks, unfold_dilated, unfold_strided, CONV_GROUP,
};

use super::{Conv2DKernel, Conv2DOp};

use std::sync::Arc;

impl Cpu {
    #[inline]
    fn fwd<E: Dtype>(
        &self,
        op: &Conv2DOp,
        img: &[E],
        filters: &[E],
        out: &mut [E],
        buf: &mut [E],
    ) -> Result<(), CpuError>
    where
        Self: MatMulImpl<E>,
    {
        unfold_strided(
            img,
            [op.h_in, op.w_in],
            buf,
            [op.h_out, op.w_out],
            op.chan_in,
            op.kernel,
            [op.stride, op.padding, op.dilation],
        );

        // filters: (G, O/G, C/G*K*K)
        // buf:     (G, C/G*K*K, OH*OW)
        // output:  (G, O/G, OH*OW)
        let m = op.chan_out / op.groups;
        let k = (op.chan_in / op.groups) * op.kernel * op.kernel;
        let n = op.w_out * op.h_out;
        for g in 0..op.groups {
            Self::matmul(
                (m, k, n),
                false,
                filters[g * m * k..].as_ptr(),
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
    fn bwd<E: Dtype>(
        &self,
        op: &Conv2DOp,
        img: &[E],
        grad_img: &mut [E],
        filters_tr: &[E],
        grad_filters_tr: &mut [E],
        grad_out: &[E],
        buf: &mut [E],
    ) -> Result<(), CpuError>
    where
        Self: MatMulImpl<E>,
    {
        unfold_dilated(
            grad_out,
            [op.h_out, op.w_out],
            buf,
            [op.h_in, op.w_in],
            op.chan_out,
            op.kernel,
            [op.stride, op.padding, op.dilation],
        );

        {
            // img_g += filters^T * unfold(grad_out)
            // (G, C/G, H * W) += (G, C/G, O/G * K * K) * (G, O/G * K * K, H * W)
            let m = op.chan_in / op.groups;
            let k = (op.chan_out / op.groups) * op.kernel * op.kernel;
            let n = op.h_in * op.w_in;
            for g in 0..op.groups {
                Self::matmul(
                    (m, k, n),
                    true,
                    filters_tr[g * m * k..].as_ptr(),
                    [k, 1],
                    buf[g * k * n..].as_ptr(),
                    [n, 1],
                    grad_img[g * m * n..].as_mut_ptr(),
                    [n, 1],
                );
            }
        }

        {
            // weight_g^T += img * unfold(patches)^T
            // (G, C/G, O/G * K * K) += (G, C/G, H * W) * (G, H * W, O/G * K * K)
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
                    grad_filters_tr[g * m * n..].as_mut_ptr(),
                    [n, 1],
                );
            }
        }
        Ok(())
    }

    /// The backward pass of one image through the products of the output gradient with the
    /// unfolded input (the filters' gradient) and with the filters (folded into the input's
    /// gradient): less copying than [Cpu::bwd] when the unfolded input is the smaller, as in a
    /// strided convolution. `filters` and `grad_filters` are `(O, C/G, K, K)`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn bwd_folded<E: Dtype>(
        &self,
        op: &Conv2DOp,
        img: &[E],
        grad_img: &mut [E],
        filters: &[E],
        grad_filters: &mut [E],
        grad_out: &[E],
        buf: &mut [E],
    ) where
        Self: MatMulImpl<E>,
    {
        let s_p_d = [op.stride, op.padding, op.dilation];
        let (hw_in, hw_out) = ([op.h_in, op.w_in], [op.h_out, op.w_out]);
        unfold_strided(img, hw_in, buf, hw_out, op.chan_in, op.kernel, s_p_d);
        let o = op.chan_out / op.groups;
        let c = (op.chan_in / op.groups) * op.kernel * op.kernel;
        let n = op.h_out * op.w_out;
        for g in 0..op.groups {
            // grad_filters (G, O/G, C/G*K*K) += grad_out (G, O/G, OH*OW) * buf^T
            Self::matmul(
                (o, n, c),
                true,
                grad_out[g * o * n..].as_ptr(),
                [n, 1],
                buf[g * c * n..].as_ptr(),
                [1, n],
                grad_filters[g * o * c..].as_mut_ptr(),
                [c, 1],
            );
        }
        for g in 0..op.groups {
            // buf (G, C/G*K*K, OH*OW) = filters^T * grad_out
            Self::matmul(
                (c, o, n),
                false,
                filters[g * o * c..].as_ptr(),
                [1, c],
                grad_out[g * o * n..].as_ptr(),
                [n, 1],
                buf[g * c * n..].as_mut_ptr(),
                [n, 1],
            );
        }
        fold_strided_add(buf, hw_out, grad_img, hw_in, op.chan_in, op.kernel, s_p_d);
    }
}

impl<E: Dtype> Conv2DKernel<E> for Cpu
where
    Self: MatMulImpl<E>,
{
    fn alloc<S: Shape>(&self, s: S) -> Result<Tensor<S, E, Self>, Self::Err> {
        self.try_zeros_like(&s)
    }

    fn forward<L: Shape, R: Shape, O: Shape>(
        &self,
        op: Conv2DOp,
        lhs: &Tensor<L, E, Self>,
        rhs: &Tensor<R, E, Self>,
        out: &mut Tensor<O, E, Self>,
    ) -> Result<(), Self::Err> {
        let patches = (op.chan_in, op.kernel, op.kernel, op.h_out, op.w_out).num_elements();
        // Images are dense (checked by `try_conv2d`), `[lstride, ostride]` elements each.
        let lstride = op.chan_in * op.h_in * op.w_in;
        let ostride = op.chan_out * op.h_out * op.w_out;
        let lhs = lhs.data.as_ref();
        let rhs = rhs.data.as_ref();
        let out = Arc::make_mut(&mut out.data);
        // Groups of images in parallel, each image computed as before.
        let init = || self.try_alloc_zeros::<E>(patches);
        let groups = map_chunks(&mut out[..], CONV_GROUP * ostride, &init, &|patches, g, out| {
            let patches = patches.as_mut().map_err(|e| e.clone())?;
            for (j, out) in out.chunks_exact_mut(ostride).enumerate() {
                let i_batch = g * CONV_GROUP + j;
                self.fwd(&op, &lhs[i_batch * lstride..], rhs, out, patches)?;
            }
            Ok::<(), CpuError>(())
        });
        groups.into_iter().collect()
    }

    fn backward<L: Shape, R: Shape, O: Shape>(
        &self,
        op: Conv2DOp,
        lhs: &Tensor<L, E, Self>,
        grad_lhs: &mut Self::Vec,
        rhs: &Tensor<R, E, Self>,
        grad_rhs: &mut Self::Vec,
        out: &impl Tensorlike<O, E, Self>,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        let f_tr_shape = [
            op.groups,
            op.chan_in / op.groups,
            op.chan_out / op.groups,
            op.kernel,
            op.kernel,
        ];
        // Images are dense (checked by `try_conv2d`), `[lstride, ostride]` elements each.
        let lstride = op.chan_in * op.h_in * op.w_in;
        let ostride = op.chan_out * op.h_out * op.w_out;
        if op.chan_in * op.h_out * op.w_out < op.chan_out * op.h_in * op.w_in {
            // Unfold the input rather than the output gradient (see `bwd_folded`); groups of
            // images in parallel, their filter gradients added up group by group, in order.
            let lhs = lhs.data.as_ref();
            let rhs = rhs.data.as_ref();
            let patches = op.chan_in * op.kernel * op.kernel * op.h_out * op.w_out;
            let init = || self.try_alloc_zeros::<E>(patches);
            let group = CONV_GROUP * lstride;
            let groups = map_chunks(&mut grad_lhs[..], group, &init, &|buf, g, grad_lhs| {
                let buf = buf.as_mut().map_err(|e| e.clone())?;
                let mut grad_f = self.try_alloc_zeros::<E>(rhs.len())?;
                for (j, grad_lhs) in grad_lhs.chunks_exact_mut(lstride).enumerate() {
                    let i_batch = g * CONV_GROUP + j;
                    let (img, go) = (&lhs[i_batch * lstride..], &grad_out[i_batch * ostride..]);
                    self.bwd_folded(&op, img, grad_lhs, rhs, &mut grad_f, go, buf);
                }
                Ok::<_, CpuError>(grad_f)
            });
            for grad_f in groups {
                for (acc, g) in grad_rhs.iter_mut().zip(grad_f?.iter()) {
                    *acc += *g;
                }
            }
            return Ok(());
        }
        let patches_shape = [op.chan_out, op.kernel, op.kernel, op.h_in, op.w_in];
        let mut f1023 = self.try_alloc_zeros::<E>(f_tr_shape.num_elements())?;
        let mut grad_f1023 = self.try_alloc_zeros::<E>(f_tr_shape.num_elements())?;

        {
            // transpose filters in f1023
            let buf = rhs.data.as_ref();
            let mut f_idx = NdIndex::new(f_tr_shape, f_tr_shape.strides());
            while let Some((i, [g, c_over_g, o_over_g, k1, k2])) = f_idx.next_with_idx() {
                let idx = (g * (op.chan_out / op.groups) + o_over_g) * rhs.strides[0]
                    + c_over_g * rhs.strides[1]
                    + k1 * rhs.strides[2]
                    + k2 * rhs.strides[3];
                f1023[i] = buf[idx];
            }
        }

        let lhs = lhs.data.as_ref();

        // Groups of images in parallel: each its images' input gradients and the sum of their
        // filter gradients, which are then added up group by group, in order.
        let init = || self.try_alloc_zeros::<E>(patches_shape.num_elements());
        let group = CONV_GROUP * lstride;
        let groups = map_chunks(&mut grad_lhs[..], group, &init, &|patches, g, grad_lhs| {
            let patches = patches.as_mut().map_err(|e| e.clone())?;
            let mut grad_f = self.try_alloc_zeros::<E>(f_tr_shape.num_elements())?;
            for (j, grad_lhs) in grad_lhs.chunks_exact_mut(lstride).enumerate() {
                let i_batch = g * CONV_GROUP + j;
                self.bwd(
                    &op,
                    &lhs[i_batch * lstride..],
                    grad_lhs,
                    &f1023,
                    &mut grad_f,
                    &grad_out[i_batch * ostride..],
                    patches,
                )?;
            }
            Ok::<_, CpuError>(grad_f)
        });
        for grad_f in groups {
            for (acc, g) in grad_f1023.iter_mut().zip(grad_f?.iter()) {
                *acc += *g;
            }
        }

        {
            // untranspose filters
            let mut f_idx = NdIndex::new(f_tr_shape, f_tr_shape.strides());
            while let Some((i, [g, c_over_g, o_over_g, k1, k2])) = f_idx.next_with_idx() {
                let idx = (g * (op.chan_out / op.groups) + o_over_g) * rhs.strides[0]
                    + c_over_g * rhs.strides[1]
                    + k1 * rhs.strides[2]
                    + k2 * rhs.strides[3];
                grad_rhs[idx] += grad_f1023[i];
            }
        }

        Ok(())
    }
}
