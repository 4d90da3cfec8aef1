//! Adam's state — its step count and the two moment estimates of every parameter — saved beside
//! a checkpoint's weights and restored on `--resume`, so that a resumed run continues exactly as
//! an uninterrupted one would.
//!
//! dfdx 0.13 keeps this state private; the project's copy makes the three fields public (see
//! `vendor/README.md`). The file is safetensors, like the weights: `moment1.<parameter>` and
//! `moment2.<parameter>` named by the parameter's dfdx path (`0.0.weight`), the step count in the
//! header's metadata.
//!
//! ```
//! use ae_toolkit::optim_state::{load_adam, save_adam};
//! use dfdx::optim::{Adam, Optimizer};
//! use dfdx::prelude::*;
//! type Net = (Linear<3, 4>, ReLU, Linear<4, 2>);
//! let dev = Cpu::seed_from_u64(0);
//! let mut model = dev.build_module::<Net, f32>();
//! let mut opt = Adam::new(&model, Default::default());
//! let x: Tensor<Rank2<5, 3>, f32, _> = dev.sample_normal();
//! for _ in 0..3 {
//!     let grads = model.forward(x.leaky_trace()).square().mean().backward();
//!     opt.update(&mut model, &grads).unwrap();
//! }
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("adam.safetensors");
//! save_adam(&opt, &model, &path).unwrap();
//!
//! // Another process: the same weights, a fresh optimiser, the saved state loaded into it.
//! let mut restored = Adam::new(&model, Default::default());
//! load_adam(&mut restored, &model, &path).unwrap();
//! assert_eq!(restored.t, 3);
//! assert_eq!(restored.moment1.get(&model.0.weight).as_vec(), opt.moment1.get(&model.0.weight).as_vec());
//! assert_eq!(restored.moment2.get(&model.2.bias).as_vec(), opt.moment2.get(&model.2.bias).as_vec());
//! ```

use std::collections::HashMap;
use std::path::Path;

use ::safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use anyhow::Context;
use dfdx::optim::Adam;
use dfdx::prelude::*;

/// The metadata key holding Adam's step count.
const STEP_KEY: &str = "adam_t";

/// Every parameter Adam updates, as (dfdx path, shape, moment 1, moment 2). A parameter Adam
/// has not updated yet gets zeros, which is what Adam starts it with.
type Moments = Vec<(String, Vec<usize>, Vec<f32>, Vec<f32>)>;

fn read_moments<M: TensorCollection<f32, D>, D: Device<f32>>(
    opt: &Adam<M, f32, D>,
    model: &M,
) -> Result<Moments, D::Err> {
    struct Read<D: Device<f32>>([Gradients<f32, D>; 2], Moments);
    impl<D: Device<f32>> TensorVisitor<f32, D> for Read<D> {
        type Viewer = (ViewTensorRef, ViewTensorName);
        type Err = D::Err;
        type E2 = f32;
        type D2 = D;
        fn visit<S: Shape>(
            &mut self,
            opts: TensorOptions<S, f32, D>,
            (p, name): (&Tensor<S, f32, D>, String),
        ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
            if opts.do_gradient_update {
                // `Gradients::get` panics without an entry; Adam would allocate zeros too.
                let [m1, m2] = &mut self.0;
                m1.try_alloc_for(p)?;
                m2.try_alloc_for(p)?;
                let shape = p.shape().concrete().into();
                self.1
                    .push((name, shape, m1.get(p).as_vec(), m2.get(p).as_vec()));
            }
            Ok(None)
        }
    }
    let mut read = Read([opt.moment1.clone(), opt.moment2.clone()], Vec::new());
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut read,
    })?;
    Ok(read.1)
}

/// Writes Adam's state for `model` to `path` (atomically: a complete file or none).
pub fn save_adam<M: TensorCollection<f32, D>, D: Device<f32>>(
    opt: &Adam<M, f32, D>,
    model: &M,
    path: &Path,
) -> anyhow::Result<()> {
    let moments = read_moments(opt, model)
        .map_err(|e| anyhow::anyhow!("cannot read Adam's moments: {e:?}"))?;
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = moments
        .into_iter()
        .flat_map(|(name, shape, m1, m2)| {
            let le = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            [
                (format!("moment1.{name}"), shape.clone(), le(m1)),
                (format!("moment2.{name}"), shape, le(m2)),
            ]
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            Ok((
                name.as_str(),
                TensorView::new(StDtype::F32, shape.clone(), data)?,
            ))
        })
        .collect::<Result<Vec<_>, ::safetensors::SafeTensorError>>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let metadata = HashMap::from([(STEP_KEY.to_string(), opt.t.to_string())]);
    let file = ::safetensors::tensor::serialize(views, &Some(metadata))
        .map_err(|e| anyhow::anyhow!("cannot encode Adam's state: {e:?}"))?;
    crate::atomic::write(path, &file)
}

/// Loads Adam's state saved by [`save_adam`] for the same model into `opt`, with an error naming
/// the file when it is damaged or belongs to a model of another shape.
pub fn load_adam<M: TensorCollection<f32, D>, D: Device<f32>>(
    opt: &mut Adam<M, f32, D>,
    model: &M,
    path: &Path,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the optimiser state {}", path.display()))?;
    let fail = |what: String| {
        anyhow::anyhow!(
            "the optimiser state {} {what}; delete the run directory (or drop --resume) to start \
             again",
            path.display()
        )
    };
    let (_, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| fail(format!("is damaged ({e:?})")))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| fail(format!("is damaged ({e:?})")))?;
    let t: i32 = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(STEP_KEY))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| fail(format!("has no step count ({STEP_KEY})")))?;
    let expected = read_moments(&Adam::new(model, opt.cfg), model)
        .map_err(|e| anyhow::anyhow!("cannot read the model's parameters: {e:?}"))?;
    let mut values = Vec::with_capacity(expected.len());
    for (name, shape, _, _) in &expected {
        let mut pair = [Vec::new(), Vec::new()];
        for (i, key) in ["moment1", "moment2"].into_iter().enumerate() {
            let key = format!("{key}.{name}");
            let view = file
                .tensor(&key)
                .map_err(|_| fail(format!("has no {key} (was it saved for another model?)")))?;
            if view.dtype() != StDtype::F32 || view.shape() != shape.as_slice() {
                return Err(fail(format!(
                    "holds {key} as {:?} {:?}, but the model's parameter is f32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            pair[i] = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
        }
        values.push(pair);
    }
    if file.len() != 2 * expected.len() {
        return Err(fail(format!(
            "holds {} tensors, but the model has {} parameters",
            file.len(),
            expected.len()
        )));
    }
    let [m1, m2] = gradients_holding(model, values)
        .map_err(|e| anyhow::anyhow!("cannot restore Adam's moments: {e:?}"))?;
    opt.t = t;
    opt.moment1 = m1;
    opt.moment2 = m2;
    Ok(())
}

/// Two `Gradients` holding `values[i] = [first, second]` for the i-th parameter of `model`.
///
/// dfdx has no public way to write given values into a `Gradients` on an arbitrary device. A
/// backward pass does it: the gradient of `Σ p ⊙ c` with respect to `p` is `c`, computed as
/// `0 + 1·c`, which is `c` exactly (a moment of −0.0 comes back as +0.0, the same number).
fn gradients_holding<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &M,
    values: Vec<[Vec<f32>; 2]>,
) -> Result<[Gradients<f32, D>; 2], D::Err> {
    struct Write<D: Device<f32>> {
        grads: [Option<Gradients<f32, D>>; 2],
        values: std::vec::IntoIter<[Vec<f32>; 2]>,
    }
    impl<D: Device<f32>> TensorVisitor<f32, D> for Write<D> {
        type Viewer = ViewTensorRef;
        type Err = D::Err;
        type E2 = f32;
        type D2 = D;
        fn visit<S: Shape>(
            &mut self,
            opts: TensorOptions<S, f32, D>,
            p: &Tensor<S, f32, D>,
        ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
            if !opts.do_gradient_update {
                return Ok(None);
            }
            let pair = self
                .values
                .next()
                .expect("one pair of moments per parameter");
            for (slot, value) in self.grads.iter_mut().zip(pair) {
                let c = p.device().tensor_from_vec(value, *p.shape());
                let traced = p.trace(slot.take().expect("gradients are put back"));
                *slot = Some(traced.try_mul(c)?.try_sum::<Rank0, _>()?.try_backward()?);
            }
            Ok(None)
        }
    }
    let mut write = Write {
        grads: [
            Some(model.try_alloc_grads()?),
            Some(model.try_alloc_grads()?),
        ],
        values: values.into_iter(),
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: model,
        f: &mut write,
    })?;
    let [a, b] = write.grads;
    Ok([a.expect("filled"), b.expect("filled")])
}
