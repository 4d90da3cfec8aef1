//! A run's files: its metrics (CSV and JSON) and its checkpoint — a description (run name,
//! configuration, history) that names the weights file and Adam's state saved with it — and
//! resuming from them.

use std::path::Path;

use anyhow::{bail, Context};
use dfdx::optim::Adam;
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{LearningRateSchedule, RunOptions, TrainConfig};
use crate::history::History;

#[derive(Serialize, Deserialize)]
pub(crate) struct CheckpointMeta {
    run_name: String,
    config: TrainConfig,
    pub(crate) history: History,
    /// The weights file (in the same directory) saved after the last epoch of `history`. Each
    /// save writes a new file, so this description and the weights it names never disagree.
    /// (Absent in checkpoints written before the name changed with the epoch.)
    #[serde(default)]
    weights: Option<String>,
    /// Adam's state after the same epoch (step count and moments; see [`crate::optim_state`]),
    /// in the same directory, written with the weights before this description. (Absent in
    /// checkpoints written before it was saved: Adam then restarts from zero.)
    #[serde(default)]
    optimiser: Option<String>,
}

/// The checkpoint's description: run, configuration, history and the name of its weights file.
pub const CHECKPOINT_META: &str = "checkpoint.json";
/// The weights file of checkpoints written before each save got its own name.
const LEGACY_WEIGHTS: &str = "checkpoint.safetensors";

/// The weights file saved after `epoch`: `checkpoint-epoch-0007.safetensors`.
///
/// ```
/// assert_eq!(ae_toolkit::train::checkpoint_weights_name(7), "checkpoint-epoch-0007.safetensors");
/// ```
pub fn checkpoint_weights_name(epoch: usize) -> String {
    format!("checkpoint-epoch-{epoch:04}.safetensors")
}

/// Adam's state saved after `epoch`: `checkpoint-epoch-0007.adam.safetensors`.
///
/// ```
/// assert_eq!(ae_toolkit::train::checkpoint_optimiser_name(7), "checkpoint-epoch-0007.adam.safetensors");
/// ```
pub fn checkpoint_optimiser_name(epoch: usize) -> String {
    format!("checkpoint-epoch-{epoch:04}.adam.safetensors")
}

/// A weights or optimiser file of some checkpoint.
fn is_checkpoint_weights(name: &str) -> bool {
    name == LEGACY_WEIGHTS
        || (name.starts_with("checkpoint-epoch-") && name.ends_with(".safetensors"))
}

/// Writes `metrics.csv` and `metrics.json` into the run directory (if any), atomically.
pub(crate) fn save_metrics(history: &History, run: &RunOptions) -> anyhow::Result<()> {
    let Some(dir) = &run.run_dir else {
        return Ok(());
    };
    crate::atomic::write(&dir.join("metrics.csv"), history.to_csv().as_bytes())?;
    crate::atomic::write(
        &dir.join("metrics.json"),
        serde_json::to_string_pretty(history)?.as_bytes(),
    )
}

/// Saves the weights and Adam's state after the last epoch of `history`, then the description
/// naming them.
pub(crate) fn save_checkpoint<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &M,
    opt: &Adam<M, f32, D>,
    cfg: &TrainConfig,
    run: &RunOptions,
    history: &History,
) -> anyhow::Result<()> {
    let Some(dir) = &run.run_dir else {
        return Ok(());
    };
    // The weights and Adam's state go to files of their own for this epoch, then the description
    // that names them replaces the old one, and only then are older files removed. Whenever the
    // process stops, the description on disk names a pair of files that exist and belong
    // together.
    let weights = checkpoint_weights_name(history.last().epoch);
    let optimiser = checkpoint_optimiser_name(history.last().epoch);
    crate::atomic::write_via_path(&dir.join(&weights), |tmp| {
        model
            .save_safetensors(tmp)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    })?;
    crate::optim_state::save_adam(opt, model, &dir.join(&optimiser))?;
    let meta = CheckpointMeta {
        run_name: run.run_name.clone(),
        config: cfg.clone(),
        history: history.clone(),
        weights: Some(weights.clone()),
        optimiser: Some(optimiser.clone()),
    };
    crate::atomic::write(
        &dir.join(CHECKPOINT_META),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_checkpoint_weights(&name) && name != weights && name != optimiser {
            std::fs::remove_file(dir.join(&name))
                .with_context(|| format!("cannot remove the old weights {}", name))?;
        }
    }
    Ok(())
}

/// The checkpoint to continue from, its weights loaded into `model` and Adam's state into `opt`:
/// `None` without `--resume` or when the run directory holds no checkpoint yet.
pub(crate) fn resume_from<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &mut M,
    opt: &mut Adam<M, f32, D>,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<Option<CheckpointMeta>> {
    let (Some(dir), true) = (&run.run_dir, run.resume) else {
        return Ok(None);
    };
    let meta_path = dir.join(CHECKPOINT_META);
    if !meta_path.exists() {
        eprintln!(
            "note: --resume given but {} has no checkpoint; starting fresh",
            dir.display()
        );
        return Ok(None);
    }
    let meta: CheckpointMeta =
        serde_json::from_slice(&std::fs::read(&meta_path)?).with_context(|| {
            format!(
                "{} is not a valid checkpoint description",
                meta_path.display()
            )
        })?;
    // The number of epochs may grow (train 10, then resume to 20) when the learning rate does
    // not depend on it; nothing else may change.
    let comparable = |c: &TrainConfig| TrainConfig {
        epochs: match c.schedule {
            LearningRateSchedule::Constant => 0,
            LearningRateSchedule::Cosine => c.epochs,
        },
        ..c.clone()
    };
    if meta.run_name != run.run_name || comparable(&meta.config) != comparable(cfg) {
        bail!(
            "the checkpoint in {} belongs to a different run ({} with {:?}); this run is {} with \
             {:?}. Use another --runs-dir or drop --resume.",
            dir.display(),
            meta.run_name,
            meta.config,
            run.run_name,
            cfg
        );
    }
    let epochs: Vec<usize> = meta.history.epochs.iter().map(|e| e.epoch).collect();
    if epochs.is_empty() || epochs.iter().enumerate().any(|(i, &e)| i != e) {
        bail!(
            "{} is damaged: its history should list epochs 0, 1, 2, … in order but lists {:?}. \
             Delete the directory {} (or drop --resume) to start the run again.",
            meta_path.display(),
            epochs,
            dir.display()
        );
    }
    let weights = dir.join(meta.weights.as_deref().unwrap_or(LEGACY_WEIGHTS));
    if !weights.is_file() {
        bail!(
            "the weights file {} named by {} is missing. Delete the directory {} (or drop \
             --resume) to start the run again.",
            weights.display(),
            meta_path.display(),
            dir.display()
        );
    }
    load_weights(model, &weights)?;
    match &meta.optimiser {
        Some(name) => crate::optim_state::load_adam(opt, model, &dir.join(name))?,
        None => eprintln!(
            "note: {} predates saving Adam's state with the weights; Adam's moments restart \
             from zero, so this run will not match an uninterrupted one exactly",
            meta_path.display()
        ),
    }
    Ok(Some(meta))
}

/// Loads weights saved by a run (or by [`dfdx`]'s `save_safetensors`) into `model`, with an error
/// naming the file when it doesn't fit the model.
///
/// ```
/// use ae_toolkit::train::load_weights;
/// use dfdx::prelude::*;
/// type Net = (Linear<784, 8>, Linear<8, 784>);
/// let dev = Cpu::seed_from_u64(0);
/// let trained = dev.build_module::<Net, f32>();
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("weights.safetensors");
/// trained.save_safetensors(&path).unwrap();
/// let mut restored = dev.build_module::<Net, f32>(); // other random weights
/// assert_ne!(restored.0.weight.as_vec(), trained.0.weight.as_vec());
/// load_weights(&mut restored, &path).unwrap();
/// assert_eq!(restored.0.weight.as_vec(), trained.0.weight.as_vec());
///
/// let mut wider = dev.build_module::<(Linear<784, 16>, Linear<16, 784>), f32>();
/// let err = load_weights(&mut wider, &path).unwrap_err().to_string();
/// assert!(err.contains("weights.safetensors") && err.contains("another shape"), "{err}");
/// ```
pub fn load_weights<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &mut M,
    path: &Path,
) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!(
            "cannot load weights from {}: the file is missing",
            path.display()
        );
    }
    model.load_safetensors(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot load weights from {}: {e:?} (was it saved by a model of another shape?)",
            path.display()
        )
    })
}
