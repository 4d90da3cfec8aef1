use crate::{
    shapes::{Dtype, Shape},
    tensor::{unique_id, Cpu, Tensor},
};

use num_traits::Float;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use rand_distr::{Bernoulli, Distribution};

/// The mask `StdRng::seed_from_u64(op.seed)` draws, one Bernoulli sample per element in order
/// (`true`: dropped), drawn in parallel chunks (a patch of the Autoencoders-in-Rust book, see its
/// vendor/README.md). rand 0.8's `StdRng` is `ChaCha12Rng`, and `Bernoulli` takes one `u64`, two
/// words of the stream, per sample (none when p = 1), so element `i`'s sample starts at word
/// `2 i`: each chunk starts its own generator there and draws what the one generator would have.
fn dropout_mask(op: super::DropoutKernelOp, len: usize) -> Vec<bool> {
    let dist = Bernoulli::new(op.prob).unwrap();
    let mut mask = vec![false; len];
    crate::tensor_ops::cpu_kernels::run_chunks(&mut mask, &|start, chunk| {
        let mut rng = ChaCha12Rng::seed_from_u64(op.seed);
        rng.set_word_pos(2 * start as u128);
        for dropped in chunk.iter_mut() {
            *dropped = dist.sample(&mut rng);
        }
    });
    mask
}

impl<E: Float + Dtype> super::DropoutKernel<E> for Cpu {
    type Mask = Vec<bool>;
    fn forward<S: Shape>(
        &self,
        op: super::DropoutKernelOp,
        inp: &Tensor<S, E, Self>,
    ) -> Result<(Tensor<S, E, Self>, Vec<bool>), Self::Err> {
        let mask = dropout_mask(op, inp.data.len());
        let mut out = Tensor {
            id: unique_id(),
            data: inp.data.clone(),
            shape: inp.shape,
            strides: inp.strides,
            device: self.clone(),
            tape: Default::default(),
        };
        for (x, &dropped) in out.buf_iter_mut().zip(mask.iter()) {
            *x = if dropped {
                E::zero()
            } else {
                *x / E::from_f64(1.0 - op.prob).unwrap()
            };
        }
        Ok((out, mask))
    }

    fn backward<S: Shape>(
        &self,
        op: super::DropoutKernelOp,
        mask: &Vec<bool>,
        inp: &Tensor<S, E, Self>,
        grad_inp: &mut Self::Vec,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        debug_assert_eq!(grad_inp.len(), grad_out.len());
        debug_assert_eq!(inp.data.len(), grad_out.len());
        debug_assert_eq!(mask.len(), grad_out.len());
        for (i, data_i) in grad_inp.iter_mut().enumerate() {
            *data_i += if mask[i] {
                E::zero()
            } else {
                E::from_f64((1.0 - op.prob).recip()).unwrap()
            } * grad_out[i];
        }
        Ok(())
    }
}
