//! One training step of every model in `perf::models()` at its chapter's batch size — forward with
//! a tape, backward, Adam update, gradients zeroed, on a real batch of the embedded subset —
//! reported as images per second; and the dfdx matmul peak, a 1024 × 1024 × 1024 single-precision
//! product, reported in elements per second where one element is one FLOP.
//!
//! ```text
//! cargo bench -p perf --bench train_step                              # everything
//! cargo bench -p perf --bench train_step -- --exact train_step/ch05-vae   # one model
//! ```
//!
//! `cargo xtask perf` runs each of these alone, interleaved with the PyTorch twins.

use std::hint::black_box;

use ae_toolkit::dfdx::prelude::*;
use criterion::{criterion_group, Criterion, Throughput};

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    for model in perf::models() {
        group.throughput(Throughput::Elements(model.batch_size() as u64));
        // Built on first use, so a filtered-out model costs nothing; criterion calls the
        // closure again for every sample, and the model keeps training across them.
        let mut step = None;
        group.bench_function(model.id, |b| {
            let step =
                step.get_or_insert_with(|| model.step_on_subset(&Cpu::seed_from_u64(perf::SEED)));
            b.iter(|| black_box(step.step()))
        });
    }
    group.finish();
}

fn matmul_peak(c: &mut Criterion) {
    let mut group = c.benchmark_group("peak");
    group.throughput(Throughput::Elements(perf::sgemm_flops(perf::SGEMM_N)));
    let mut sgemm = None;
    group.bench_function("dfdx-sgemm", |b| {
        let s = sgemm.get_or_insert_with(|| {
            perf::Sgemm::new(&Cpu::seed_from_u64(perf::SEED), perf::SGEMM_N)
        });
        b.iter(|| black_box(s.run()))
    });
    group.finish();
}

criterion_group!(benches, train_step, matmul_peak);

/// `criterion_main!(benches)`, with this thread made one of the threads that compute first, as in
/// the chapters' programs (`ae_toolkit::threads`).
fn main() {
    ae_toolkit::threads::make_this_thread_a_rayon_worker();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
