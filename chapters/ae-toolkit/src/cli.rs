//! Flags every chapter's `reproduce` example shares, and where its outputs go.

use std::path::{Path, PathBuf};

use crate::data::DataDir;
use crate::device::DeviceKind;

/// The top of the workspace (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .nth(2)
        .unwrap_or(crate_dir)
        .to_path_buf()
}

/// Flags shared by every chapter's `reproduce` example.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct RunArgs {
    /// Directory holding `mnist/` and `fashion-mnist/` [default: $AE_DATA_DIR, else `data/` at the
    /// top of the workspace; the embedded subset is used when it holds no data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Device to train on (`cuda` needs a build with `--features cuda`)
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// Seed for initialisation, shuffling and noise
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train for this many epochs instead of the preset's
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: Option<u32>,
    /// Where figures and result tables go [default: the book's `book/generated/<chapter>/`]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where metrics (CSV, JSON) and checkpoints go [default: `target/runs/<chapter>/`]
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
    /// Continue from the last checkpoint in the runs directory
    #[arg(long)]
    pub resume: bool,
    /// No progress bar or per-epoch lines
    #[arg(long, short)]
    pub quiet: bool,
}

impl RunArgs {
    /// The resolved data directory.
    pub fn data_dir(&self) -> DataDir {
        DataDir::resolve(self.data_dir.clone())
    }

    /// Where figures and result tables for `chapter` go.
    pub fn out_dir(&self, chapter: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| workspace_root().join("book/generated").join(chapter))
    }

    /// Where metrics and checkpoints of run `name` of `chapter` go.
    pub fn run_dir(&self, chapter: &str, name: &str) -> PathBuf {
        self.runs_dir
            .clone()
            .unwrap_or_else(|| workspace_root().join("target/runs").join(chapter))
            .join(name)
    }

    /// The epochs to train: the flag if given, else the preset's.
    pub fn epochs_or(&self, preset: usize) -> usize {
        self.epochs.map_or(preset, |e| e as usize)
    }
}

/// The command that reproduces a result, for result tables:
/// `cargo run --release -p <package> --example <example> -- <args>`.
///
/// ```
/// let c = ae_toolkit::cli::reproduce_command("ch01-autoencoder", "reproduce", &["--preset", "basic"]);
/// assert_eq!(c, "cargo run --release -p ch01-autoencoder --example reproduce -- --preset basic");
/// ```
pub fn reproduce_command(package: &str, example: &str, args: &[&str]) -> String {
    let mut c = format!("cargo run --release -p {package} --example {example}");
    if !args.is_empty() {
        c.push_str(" -- ");
        c.push_str(&args.join(" "));
    }
    c
}

/// A Markdown table, for result files the book includes.
///
/// ```
/// let t = ae_toolkit::cli::markdown_table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
/// assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n");
/// ```
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!(
        "| {} |\n|{}|\n",
        headers.join(" | "),
        vec!["---"; headers.len()].join("|")
    );
    for r in rows {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
}
