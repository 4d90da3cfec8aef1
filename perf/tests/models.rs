//! The benchmark's models are the chapters' own, and its FLOP counts are right.
//!
//! An integration test rather than unit tests in `src/lib.rs`: a unit-test build compiles the
//! whole library a second time with every chapter's model inside it (over four minutes of a cold
//! CI build); this file only links the library that the `perf` binary needs anyway.

use ae_toolkit::data::DataSplits;
use ae_toolkit::dfdx::nn::tensor_collection::TensorCollection;
use ae_toolkit::dfdx::prelude::*;
use perf::*;

/// `Linear` layers' products, `(inputs, outputs)` once per image.
fn linears(layers: &[(usize, usize)]) -> Vec<MatrixProduct> {
    layers
        .iter()
        .map(|&(i, o)| MatrixProduct::linear(i, o))
        .collect()
}

#[test]
fn flops_match_hand_counts() {
    // basic: 784·400 + 400·20 + 20·400 + 400·784 = 643,200 weights.
    let basic = linears(&[(784, 400), (400, 20), (20, 400), (400, 784)]);
    assert_eq!(forward_flops(&basic, 128), 2 * 128 * 643_200);
    assert_eq!(backward_flops(&basic, 128), 4 * 128 * 643_200);
    assert_eq!(flops_per_step(&basic, 128), 493_977_600);
    // One layer, one image: 2·3·5 forward, 4·3·5 backward.
    assert_eq!(flops_per_step(&linears(&[(3, 5)]), 1), 90);
    assert_eq!(flops_per_step(&[], 128), 0);
    // Linear in the batch size.
    assert_eq!(flops_per_step(&basic, 256), 2 * flops_per_step(&basic, 128));
    // A convolution's product runs at every output position: 3×3×2 → 4 channels on 5×5.
    let conv = MatrixProduct {
        inputs: 18,
        outputs: 4,
        positions: 25,
    };
    assert_eq!(flops_per_step(&[conv], 1), 6 * 18 * 4 * 25);
    assert_eq!(sgemm_flops(1024), 2_147_483_648);
}

/// The convolutional autoencoder's products follow its image sizes (28 → 14 → 7 → 4 down, 4 → 8
/// → 16 → 14 → 28 up, as the chapter's types say): 3×3 kernels, so `IN·9` values per position.
#[test]
fn convolution_products_follow_the_image_sizes() {
    let dev = Cpu::seed_from_u64(SEED);
    let model = dev.build_module::<ch07_convolutional::ConvAutoencoder, f32>();
    let conv = |i: usize, o: usize, side: usize| MatrixProduct {
        inputs: 9 * i,
        outputs: o,
        positions: side * side,
    };
    let expect = [
        conv(1, 16, 28),
        conv(16, 8, 14),
        conv(8, 8, 7),
        conv(8, 8, 4),
        conv(8, 8, 8),
        conv(8, 16, 14),
        conv(16, 1, 28),
    ];
    assert_eq!(image_products(&model), expect);
    assert_eq!(
        find("ch07-conv")
            .unwrap()
            .step_on_subset(&dev)
            .matrix_products(),
        expect
    );
    // The weights' product is the parameter count without biases.
    let weights: usize = expect.iter().map(|p| p.inputs * p.outputs).sum();
    assert_eq!(
        weights + (16 + 8 + 8 + 8 + 8 + 16 + 1),
        model.num_trainable_params()
    );
}

/// The convolutional VAE's: 28 → 13 → 6 down (stride 2, no padding), the two heads on the 2,304
/// features, then 7 → 14 → 28 up; a transposed convolution runs at its *input* positions.
#[test]
fn vae_products_follow_the_image_sizes() {
    let dev = Cpu::seed_from_u64(SEED);
    let at = |inputs, outputs, positions| MatrixProduct {
        inputs,
        outputs,
        positions,
    };
    let expect = [
        at(9, 32, 13 * 13),
        at(9 * 32, 64, 6 * 6),
        at(2304, 20, 1),
        at(2304, 20, 1),
        at(20, 1568, 1),
        at(32, 64 * 9, 7 * 7),
        at(64, 32 * 9, 14 * 14),
        at(32, 9, 28 * 28),
    ];
    let products = find("ch07-vae")
        .unwrap()
        .step_on_subset(&dev)
        .matrix_products();
    assert_eq!(products, expect);
}

#[test]
#[should_panic(expected = "image_products")]
fn a_convolutional_model_is_not_counted_as_linear_layers() {
    let dev = Cpu::seed_from_u64(SEED);
    linear_products(&dev.build_module::<ch07_convolutional::ConvAutoencoder, f32>());
}

#[test]
fn the_models_have_the_chapters_layers_and_batch_sizes() {
    let dev = Cpu::seed_from_u64(SEED);
    type Layers = &'static [(usize, usize)];
    let expect: [(&str, usize, Layers); 10] = [
        (
            "ch01-basic",
            128,
            &[(784, 400), (400, 20), (20, 400), (400, 784)],
        ),
        (
            "ch01-deep",
            128,
            &[
                (784, 128),
                (128, 64),
                (64, 32),
                (32, 64),
                (64, 128),
                (128, 784),
            ],
        ),
        ("ch01-shallow", 256, &[(784, 32), (32, 784)]),
        ("ch02-sparse", 128, &[(784, 400), (400, 784)]),
        (
            "ch03-denoising",
            128,
            &[
                (784, 512),
                (512, 256),
                (256, 128),
                (128, 256),
                (256, 512),
                (512, 784),
            ],
        ),
        (
            "ch04-dropout",
            128,
            &[
                (784, 512),
                (512, 256),
                (256, 128),
                (128, 256),
                (256, 512),
                (512, 784),
            ],
        ),
        (
            "ch05-vae",
            128,
            &[(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)],
        ),
        (
            "ch06-deep",
            128,
            &[
                (784, 1000),
                (1000, 500),
                (500, 250),
                (250, 30),
                (30, 250),
                (250, 500),
                (500, 1000),
                (1000, 784),
            ],
        ),
        (
            "ch07-conv",
            128,
            &[
                (9, 16),
                (144, 8),
                (72, 8),
                (72, 8),
                (72, 8),
                (72, 16),
                (144, 1),
            ],
        ),
        (
            "ch07-vae",
            128,
            &[
                (9, 32),
                (288, 64),
                (2304, 20),
                (2304, 20),
                (20, 1568),
                (32, 576),
                (64, 288),
                (32, 9),
            ],
        ),
    ];
    assert_eq!(models().len(), expect.len(), "every model is checked");
    let all = models();
    for (m, (id, batch, layers)) in all.iter().zip(expect) {
        assert_eq!((m.id, m.batch_size()), (id, batch));
        let products = m.step_on_subset(&dev).matrix_products();
        let matrices: Vec<_> = products.iter().map(|p| (p.inputs, p.outputs)).collect();
        assert_eq!(matrices, layers, "{id}");
    }
    // basic and the VAE: hand counts of a whole step.
    let vae = linears(&[(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)]);
    assert_eq!(flops_per_step(&vae, 128), 6 * 128 * 651_200);
    let mut ids: Vec<&str> = all.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "ids are unique");
    assert!(find("ch05-vae").is_ok());
    let Err(unknown) = find("nope") else {
        panic!("found a model called nope")
    };
    assert!(unknown.to_string().contains("ch01-basic"), "{unknown}");
}

#[test]
fn every_step_trains() {
    // A few steps on one batch lower its loss, for every model (the dropout and noise ones
    // included: their loss is noisy, but eight steps of Adam move it far more).
    let dev = Cpu::seed_from_u64(SEED);
    for m in models() {
        let mut step = m.step_on_subset(&dev);
        let first = step.step();
        let last = (0..8).map(|_| step.step()).last().unwrap();
        assert!(
            first.is_finite() && last < first,
            "{}: {first} -> {last}",
            m.id
        );
    }
}

#[test]
fn one_epoch_runs_the_chapters_train_function() {
    let dev = Cpu::seed_from_u64(SEED);
    for m in models() {
        let full = m.subset();
        let data = DataSplits {
            train: full.train.head(2 * m.batch_size()),
            test: full.test.head(50),
            ..full
        };
        let t = m.one_epoch(&dev, &data).unwrap();
        assert_eq!(t.images, 2 * m.batch_size(), "{}", m.id);
        assert!(
            t.seconds > 0.0 && t.train_loss.is_finite(),
            "{}: {t:?}",
            m.id
        );
    }
}

#[test]
fn the_subset_is_in_the_chapters_range() {
    for m in models() {
        let lo = m
            .subset()
            .train
            .images
            .iter()
            .cloned()
            .fold(f32::MAX, f32::min);
        assert_eq!(lo, if m.symmetric_range { -1.0 } else { 0.0 }, "{}", m.id);
    }
}

#[test]
fn sgemm_is_a_matrix_product() {
    let dev = Cpu::seed_from_u64(SEED);
    let s = Sgemm::new(&dev, 3);
    let (a, b, c) = (s.a.as_vec(), s.b.as_vec(), s.run().as_vec());
    let c01: f32 = (0..3).map(|k| a[k] * b[k * 3 + 1]).sum();
    assert!((c[1] - c01).abs() < 1e-5);
}

/// The first images of the embedded subset, as the twins' `forward` command reads them.
const TWIN_IMAGES: usize = 16;

/// The PyTorch twin `id`, given the Rust model's weights by name, computes `code` and `logits`
/// on the same images: the same layers in the same order, with the same padding, strides,
/// pooling, upsampling, cropping and flattening — not only the same shapes. Skipped, saying so,
/// without Python or PyTorch.
fn assert_twin_computes<M: TensorCollection<f32, Cpu>>(
    id: &str,
    model: &M,
    code: Vec<f32>,
    logits: Vec<f32>,
) {
    let weights: Vec<_> = ae_toolkit::export::module_tensors(model)
        .into_iter()
        .map(|(name, shape, values)| {
            serde_json::json!({"name": name, "shape": shape, "values": values})
        })
        .collect();
    let file = std::env::temp_dir().join(format!("perf-{id}-twin-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_string(&weights).unwrap()).unwrap();
    let script = ae_toolkit::paths::workspace_root().join("perf/pytorch/train_step.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(["forward", "--model", id, "--threads", "1"])
        .args(["--images", &TWIN_IMAGES.to_string(), "--weights"])
        .arg(&file)
        .output();
    std::fs::remove_file(&file).unwrap();
    let out = match out {
        Err(e) => return eprintln!("skipped: cannot run python3 ({e})"),
        Ok(out) if out.status.code() == Some(3) => return eprintln!("skipped: no PyTorch"),
        Ok(out) => out,
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let twin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let values = |key: &str| -> Vec<f32> { serde_json::from_value(twin[key].clone()).unwrap() };
    for (what, rust, torch) in [
        ("code", code, values("code")),
        ("logits", logits, values("logits")),
    ] {
        assert_eq!(rust.len(), torch.len(), "{id} {what}");
        // Both sum the same products in different orders: float32 rounding, nothing more.
        let worst = rust
            .iter()
            .zip(&torch)
            .map(|(r, t)| (r - t).abs() / (1.0 + r.abs()))
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "{id} {what}: largest difference {worst}");
    }
}

/// The first [`TWIN_IMAGES`] training images of model `id`'s subset, as one batch.
fn twin_images(dev: &Cpu, id: &str) -> ae_toolkit::batch::Batch<Cpu> {
    let subset = find(id).unwrap().subset();
    let first = ae_toolkit::batch::batches(dev, &subset.train, TWIN_IMAGES, None)
        .next()
        .unwrap();
    first
}

#[test]
fn the_conv_twin_computes_what_the_rust_model_computes() {
    let dev = Cpu::seed_from_u64(SEED);
    let model = dev.build_module::<ch07_convolutional::ConvAutoencoder, f32>();
    let code = model.0.forward(twin_images(&dev, "ch07-conv").x);
    let logits = model.1.forward(code.clone()).as_vec();
    assert_twin_computes("ch07-conv", &model, code.as_vec(), logits);
}

/// Checks the strided convolutions, the two heads and TensorFlow's "same" transposed
/// convolutions (the crop at the bottom and right, not the top and left).
#[test]
fn the_conv_vae_twin_computes_what_the_rust_model_computes() {
    let dev = Cpu::seed_from_u64(SEED);
    let model = dev.build_module::<ch07_convolutional::vae::ConvVae<{ ch05_vae::LATENT }>, f32>();
    let (mu, _) = model.0.forward(twin_images(&dev, "ch07-vae").x);
    let logits = model.1.forward(mu.clone()).as_vec();
    assert_twin_computes("ch07-vae", &model, mu.as_vec(), logits);
}

/// The denoiser's twin is the conv twin's module, so what this adds is the data: the twin must
/// read its images scaled to [−1, 1], as Chapter 3's objective trains the Rust model on them.
#[test]
fn the_conv_denoiser_twin_computes_what_the_rust_model_computes() {
    use ae_toolkit::data::{embedded, DatasetKind, PIXELS};
    let dev = Cpu::seed_from_u64(SEED);
    let model = dev.build_module::<ch07_convolutional::denoising::ConvDenoiser, f32>();
    let images = embedded(DatasetKind::Mnist)
        .train
        .head(TWIN_IMAGES)
        .to_symmetric_range()
        .images;
    let x = dev.tensor_from_vec(images, (TWIN_IMAGES, Const::<PIXELS>));
    let code = model.0.forward(x);
    let outputs = model.1.forward(code.clone()).as_vec();
    assert_twin_computes("ch07-denoising", &model, code.as_vec(), outputs);
}
