//! `perf`: what `cargo xtask perf` asks the Rust side besides the criterion benchmark — the table
//! of models, the thread count, and one timed training epoch. Prints JSON on stdout.
//!
//! ```text
//! cargo run --release -p perf -- models
//! cargo run --release -p perf -- epoch --model ch01-basic            # full data set
//! cargo run --release -p perf -- epoch --model ch01-basic --quick    # embedded subset
//! cargo run --release -p perf -- steps --model ch01-shallow --steps 200   # for perf/callgrind
//! ```

use std::path::PathBuf;

use ae_toolkit::data::DataDir;
use ae_toolkit::dfdx::prelude::*;
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(about = "The Rust side of `cargo xtask perf` (JSON on stdout)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The models, their batch sizes, layers' matrix products and FLOPs per training step
    Models,
    /// The threads dfdx's matrix products run on (rayon's global pool; set RAYON_NUM_THREADS)
    Threads,
    /// Run a fixed number of training steps of one model on a batch of the embedded subset and
    /// report the mean time and the last loss. A fixed amount of work, unlike criterion's timed
    /// loops, so `valgrind --tool=callgrind` counts can be compared between two builds.
    Steps {
        /// The model's id (see `models`)
        #[arg(long)]
        model: String,
        /// How many steps to run (after one untimed warm-up step)
        #[arg(long, default_value_t = 100)]
        steps: usize,
    },
    /// Train one model for one epoch with its chapter's `train` function and report fit's time
    Epoch {
        /// The model's id (see `models`)
        #[arg(long)]
        model: String,
        /// On the embedded subset (2,000 training images) instead of the full set
        #[arg(long)]
        quick: bool,
        /// Directory holding `mnist/` and `fashion-mnist/` [default: $AE_DATA_DIR, else `data/`
        /// at the top of the workspace]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn main() {
    ae_toolkit::threads::make_this_thread_a_rayon_worker();
    ae_toolkit::cli::exit_on_error(run(Cli::parse()));
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let out = match cli.command {
        Command::Models => {
            let dev = Cpu::seed_from_u64(perf::SEED);
            let rows: Vec<_> = perf::models()
                .iter()
                .map(|m| {
                    let products = m.step_on_subset(&dev).matrix_products();
                    // What `cargo xtask perf` compares with the PyTorch twin's, layer by layer: each
                    // layer's weight matrix `(inputs, outputs)` (a convolution's: `(IN·K·K, OUT)`).
                    let linears: Vec<_> = products.iter().map(|p| (p.inputs, p.outputs)).collect();
                    json!({
                        "id": m.id,
                        "crate": m.crate_name,
                        "what": m.what,
                        "dataset": m.dataset.to_string(),
                        "symmetric_range": m.symmetric_range,
                        "batch_size": m.batch_size(),
                        "betas": m.config.betas,
                        "learning_rate": m.config.learning_rate,
                        "flops_per_step": perf::flops_per_step(&products, m.batch_size()),
                        "linears": linears,
                        "matrix_products": products,
                    })
                })
                .collect();
            json!({ "models": rows, "sgemm_n": perf::SGEMM_N })
        }
        Command::Threads => json!({ "threads": rayon::current_num_threads() }),
        Command::Steps { model, steps } => {
            let m = perf::find(&model)?;
            let mut step = m.step_on_subset(&Cpu::seed_from_u64(perf::SEED));
            step.step();
            let start = std::time::Instant::now();
            let mut loss = f32::NAN;
            for _ in 0..steps {
                loss = step.step();
            }
            let seconds = start.elapsed().as_secs_f64() / steps.max(1) as f64;
            json!({ "id": m.id, "steps": steps, "seconds_per_step": seconds, "last_loss": loss })
        }
        Command::Epoch {
            model,
            quick,
            data_dir,
        } => {
            let m = perf::find(&model)?;
            let data = if quick {
                m.subset()
            } else {
                m.full_data(&DataDir::resolve(data_dir))?
            };
            let dev = Cpu::seed_from_u64(perf::SEED);
            let t = m.one_epoch(&dev, &data)?;
            json!({
                "id": m.id,
                "data": data.title(),
                "batch_size": m.batch_size(),
                "seconds": t.seconds,
                "images": t.images,
                "train_loss": t.train_loss,
            })
        }
    };
    println!("{out}");
    Ok(())
}
