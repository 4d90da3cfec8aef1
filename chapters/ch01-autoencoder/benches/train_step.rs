//! One training step of the `basic` preset (784-400-20-400-784, BCE per image, Adam, batch 128):
//! forward with a tape, backward, Adam update. Reported as images per second.
//!
//! `cargo bench -p ch01-autoencoder --bench train_step`

use ae_toolkit::batch::batches;
use ae_toolkit::data::{embedded, DatasetKind};
use ae_toolkit::dfdx::optim::{Adam, AdamConfig, Optimizer};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::Reconstruction;
use ae_toolkit::model::Autoencoder;
use ch01_autoencoder::Basic;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BATCH: usize = 128;

fn train_step(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(0);
    let data = embedded(DatasetKind::Mnist).train;
    let batch = batches(&dev, &data, BATCH, None).next().unwrap();
    let mut model = dev.build_module::<Basic, f32>();
    let mut grads = Some(model.alloc_grads());
    let mut opt = Adam::new(&model, AdamConfig::default());
    let mut group = c.benchmark_group("ch01");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("basic_train_step_batch128", |b| {
        b.iter(|| {
            let traced = batch.x.clone().traced(grads.take().unwrap());
            let loss =
                Reconstruction::BcePerImage.loss(model.logits_traced(traced), batch.x.clone());
            let mut g = loss.backward();
            opt.update(&mut model, &g).unwrap();
            model.zero_grads(&mut g);
            grads = Some(g);
        })
    });
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
