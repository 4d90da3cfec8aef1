//! The patched dfdx skips gradients nobody reads when the gradients keep only the model's
//! parameters (vendor/README.md, "The input batch's gradient"): the traced input batch's in the
//! first matrix product, and the target's in a loss that compares the output with that same batch.
//! The parameters' gradients must be exactly those of the unpatched path, which `leaky_traced`
//! (gradients that keep everything) still takes.

use ae_toolkit::dfdx::prelude::*;

type Mlp = (Linear<6, 5>, Sigmoid, Linear<5, 6>);
type Model = <Mlp as BuildOnDevice<Cpu, f32>>::Built;
type Batch = Tensor<(usize, Const<6>), f32, Cpu>;

/// The parameters' gradients of `loss(model(x), x)`, with the input traced into gradients that
/// keep only the parameters, and with it traced into gradients that keep everything; the latter
/// also returns the input's gradient.
fn both_paths<L>(model: &Model, x: &Batch, loss: L) -> [(Vec<f32>, Vec<f32>); 4]
where
    L: Fn(
        Tensor<(usize, Const<6>), f32, Cpu, OwnedTape<f32, Cpu>>,
        Batch,
    ) -> Tensor<(), f32, Cpu, OwnedTape<f32, Cpu>>,
{
    let y = model.forward(x.clone().traced(model.alloc_grads()));
    let skipped = loss(y, x.clone()).backward();
    let y = model.forward(x.clone().leaky_traced());
    let full = loss(y, x.clone()).backward();
    // The full path computed the input's gradient; it is a real, non-zero gradient.
    assert!(full.get(x).as_vec().iter().any(|g| *g != 0.0));
    let pair = |g: &Gradients<f32, Cpu>| {
        [
            g.get(&model.0.weight).as_vec(),
            g.get(&model.0.bias).as_vec(),
            g.get(&model.2.weight).as_vec(),
            g.get(&model.2.bias).as_vec(),
        ]
    };
    let (s, f) = (pair(&skipped), pair(&full));
    [0, 1, 2, 3].map(|i| (s[i].clone(), f[i].clone()))
}

fn assert_bitwise_equal(paths: [(Vec<f32>, Vec<f32>); 4]) {
    for (skipped, full) in paths {
        assert_eq!(skipped, full);
    }
}

fn model_and_batch() -> (Cpu, Model, Batch) {
    let dev = Cpu::seed_from_u64(3);
    let model = dev.build_module::<Mlp, f32>();
    let x: Batch = dev.sample_normal_like(&(4, Const));
    (dev, model, x)
}

/// Squared error: a subtraction, whose derivative needs no data.
#[test]
fn skipped_gradients_leave_the_squared_errors_parameter_gradients_bitwise_unchanged() {
    let (_, model, x) = model_and_batch();
    assert_bitwise_equal(both_paths(&model, &x, |y, x| (y - x).square().mean()));
}

/// BCE with logits: a binary op whose derivative reads both operands.
#[test]
fn skipped_gradients_leave_the_bce_loss_parameter_gradients_bitwise_unchanged() {
    let (dev, model, _) = model_and_batch();
    let p: Batch = dev.sample_uniform_like(&(4, Const));
    assert_bitwise_equal(both_paths(&model, &p, |y, x| y.bce_with_logits(x).mean()));
}

/// An input that is not laid out row by row (a transposed tensor): the general path.
#[test]
fn skipped_gradients_leave_parameter_gradients_unchanged_for_a_transposed_input() {
    let (dev, model, _) = model_and_batch();
    let t: Tensor<(Const<6>, usize), f32, Cpu> = dev.sample_normal_like(&(Const, 4));
    let xt: Batch = t.permute();
    assert_bitwise_equal(both_paths(&model, &xt, |y, x| (y - x).square().mean()));
}
