//! The patched dfdx skips the gradient of a traced input batch in the first matrix product when
//! the gradients keep only the model's parameters (vendor/README.md, "The input batch's
//! gradient"). The parameters' gradients must be exactly those of the unpatched path, which
//! `leaky_traced` (gradients that keep everything) still takes.

use ae_toolkit::dfdx::prelude::*;

type Mlp = (Linear<6, 5>, Sigmoid, Linear<5, 6>);

#[test]
fn skipping_the_input_gradient_leaves_every_parameter_gradient_bitwise_unchanged() {
    let dev = Cpu::seed_from_u64(3);
    let model = dev.build_module::<Mlp, f32>();
    let x: Tensor<(usize, Const<6>), f32, Cpu> = dev.sample_normal_like(&(4, Const));

    let y = model.forward(x.clone().traced(model.alloc_grads()));
    let skipped = (y - x.clone()).square().mean().backward();
    let y = model.forward(x.clone().leaky_traced());
    let full = (y - x.clone()).square().mean().backward();

    let (a, b) = (&model.0.weight, &model.2.bias);
    assert_eq!(skipped.get(a).as_vec(), full.get(a).as_vec());
    assert_eq!(skipped.get(b).as_vec(), full.get(b).as_vec());
    assert_eq!(
        skipped.get(&model.0.bias).as_vec(),
        full.get(&model.0.bias).as_vec()
    );
    assert_eq!(
        skipped.get(&model.2.weight).as_vec(),
        full.get(&model.2.weight).as_vec()
    );
    // The full path computed the input's gradient; it is a real, non-zero gradient.
    assert!(full.get(&x).as_vec().iter().any(|g| *g != 0.0));
}
