//! A fixed amount of training work for profiling the convolution kernels: `--steps` Adam steps of
//! the convolutional autoencoder on one batch of the embedded subset (after one untimed warm-up
//! step). Prints images/s and the last loss; with the same arguments the work (and the loss) is
//! the same every run, so `valgrind --tool=callgrind` instruction counts can be compared between
//! two builds of dfdx.
//!
//! ```text
//! cargo run --release -p ch07-convolutional --example steps -- 20 32
//! valgrind --tool=callgrind target/release/examples/steps 5 32
//! ```

use ae_toolkit::batch::batches;
use ae_toolkit::data::{embedded, DatasetKind};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::model::reconstruction_loss;
use ae_toolkit::train::{TrainConfig, TrainStep};
use ch07_convolutional::{ConvAutoencoder, LOSS};

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map_or(20, |s| s.parse().expect("steps"));
    let batch_size: usize = args.next().map_or(32, |s| s.parse().expect("batch size"));
    let data = embedded(DatasetKind::Mnist);
    let dev = Cpu::seed_from_u64(0);
    let mut model = dev.build_module::<ConvAutoencoder, f32>();
    let cfg = TrainConfig {
        learning_rate: 3e-3,
        ..TrainConfig::adam(1, batch_size)
    };
    let batch = batches(&dev, &data.train, batch_size, None)
        .next()
        .expect("a batch");
    let mut step = TrainStep::new(&model, &cfg);
    let mut objective =
        |m: &mut _, b: ae_toolkit::batch::Batch<Cpu>, g| reconstruction_loss(m, b.x, g, LOSS);
    let mut loss = step
        .step(&mut model, batch.clone(), &mut objective)
        .unwrap()
        .unwrap();
    let start = std::time::Instant::now();
    for _ in 0..steps {
        loss = step
            .step(&mut model, batch.clone(), &mut objective)
            .unwrap()
            .unwrap();
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "{steps} steps of {batch_size}: {:.1} ms/step, {:.0} images/s, last loss {loss:.6} (bits {:08x})",
        1e3 * s / steps.max(1) as f64,
        (steps * batch_size) as f64 / s,
        loss.to_bits()
    );
}
