//! The numbers the book's prose quotes, by name: each chapter's `reproduce` example (and
//! `cargo xtask perf`) writes, beside its tables, `book/generated/<chapter>/results.json`, and
//! the pages refer to a value by its name (`cargo xtask book` turns the file into include
//! fragments, see `xtask/src/book/values.rs`).
//!
//! A value is written once, with its display text decided here, where it is measured: how many
//! decimals, which unit. Each value belongs to the experiment that wrote it, and writing merges
//! into the file: an experiment's write replaces all of that experiment's values (dropping those
//! it no longer writes) and keeps every other experiment's.
//!
//! ```
//! use ae_toolkit::results::Results;
//! let dir = tempfile::tempdir().unwrap();
//! let mut pca = Results::new("pca");
//! pca.number("pca_mse_k30", 13.8672, 2).with_unit("train_time", 68.46, 1, "s");
//! pca.write(dir.path()).unwrap();
//! let mut deep = Results::new("deep");
//! deep.number("deep_mse", 4.1093, 2);
//! deep.write(dir.path()).unwrap();
//!
//! let file = ae_toolkit::results::read(dir.path()).unwrap();
//! assert_eq!(file["pca_mse_k30"].text, "13.87");
//! assert_eq!(file["train_time"].text, "68.5 s");
//! assert_eq!(file["deep_mse"].experiment, "deep");
//! assert_eq!(file.len(), 3);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The file each chapter's directory of generated outputs holds.
pub const FILE_NAME: &str = "results.json";

/// One named value as the book shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Value {
    /// The number itself, for the book's claims (comparisons between values).
    pub value: f64,
    /// What the page shows: the number with its digits and unit.
    pub text: String,
    /// The experiment that wrote it (`--experiment`, `--preset`, … of the example).
    pub experiment: String,
}

/// The values one experiment writes.
#[derive(Clone, Debug)]
pub struct Results {
    experiment: String,
    values: BTreeMap<String, Value>,
}

impl Results {
    /// Values of `experiment` (a name such as `pca` or `main`; `[a-z0-9_-]`).
    pub fn new(experiment: &str) -> Results {
        Results {
            experiment: experiment.to_string(),
            values: BTreeMap::new(),
        }
    }

    /// `value` shown with `decimals` digits after the point.
    pub fn number(&mut self, name: &str, value: f64, decimals: usize) -> &mut Results {
        self.text(name, value, format!("{value:.decimals$}"))
    }

    /// `value` shown with `decimals` digits after the point, a space and `unit` (`s`, `%`,
    /// `GFLOP/s`, `nats`).
    pub fn with_unit(
        &mut self,
        name: &str,
        value: f64,
        decimals: usize,
        unit: &str,
    ) -> &mut Results {
        self.text(name, value, format!("{value:.decimals$} {unit}"))
    }

    /// A count: `value` as a whole number.
    pub fn count(&mut self, name: &str, value: usize) -> &mut Results {
        self.text(name, value as f64, value.to_string())
    }

    /// `value` shown as `text` (formatted by the caller, for what the helpers above do not
    /// cover).
    pub fn text(&mut self, name: &str, value: f64, text: String) -> &mut Results {
        self.values.insert(
            name.to_string(),
            Value {
                value,
                text,
                experiment: self.experiment.clone(),
            },
        );
        self
    }

    /// Merges these values into `dir/results.json` atomically (see the module's docs). Fails on
    /// a name that is not `[a-z0-9_]`, a value that is not finite, or a name another experiment
    /// of the same file already wrote.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        for (name, v) in &self.values {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                bail!("result name `{name}`: use lower-case letters, digits and `_` only");
            }
            if !v.value.is_finite() {
                bail!(
                    "result `{name}` is {} (not a number the book can show)",
                    v.value
                );
            }
        }
        let path = dir.join(FILE_NAME);
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // Two experiments of one chapter may finish at the same time: read-merge-write under a
        // lock on the directory (advisory; where directories cannot be locked, unlocked).
        let lock = std::fs::File::open(dir).ok().filter(|d| d.lock().is_ok());
        let mut all = if path.exists() {
            read(dir)?
        } else {
            BTreeMap::new()
        };
        for (name, v) in &all {
            if v.experiment != self.experiment && self.values.contains_key(name) {
                bail!(
                    "result `{name}` of experiment `{}` is already written by experiment `{}` in \
                     {}: give it another name",
                    self.experiment,
                    v.experiment,
                    path.display()
                );
            }
        }
        all.retain(|_, v| v.experiment != self.experiment);
        all.extend(self.values.clone());
        let json = serde_json::to_string_pretty(&all)? + "\n";
        crate::atomic::write(&path, json.as_bytes())?;
        drop(lock);
        Ok(path)
    }
}

/// The values in `dir/results.json`, by name.
pub fn read(dir: &Path) -> anyhow::Result<BTreeMap<String, Value>> {
    let path = dir.join(FILE_NAME);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a results file (name → {{value, text, experiment}})",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_experiment_rewrites_only_its_own_values() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Results::new("a");
        a.number("x", 1.0, 1).number("gone", 2.0, 0);
        a.write(dir.path()).unwrap();
        Results::new("b").count("y", 7).write(dir.path()).unwrap();
        Results::new("a")
            .number("x", 3.25, 2)
            .write(dir.path())
            .unwrap();
        let all = read(dir.path()).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(all["x"].text, "3.25");
        assert_eq!(all["y"].text, "7");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary file left behind: {names:?}");
    }

    #[test]
    fn bad_names_values_and_clashes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = Results::new("a")
            .number("Bad.Name", 1.0, 1)
            .write(dir.path());
        assert!(e.unwrap_err().to_string().contains("lower-case"));
        let e = Results::new("a")
            .number("nan", f64::NAN, 1)
            .write(dir.path());
        assert!(e.unwrap_err().to_string().contains("not a number"));
        Results::new("a")
            .number("x", 1.0, 1)
            .write(dir.path())
            .unwrap();
        let e = Results::new("b").number("x", 2.0, 1).write(dir.path());
        assert!(e.unwrap_err().to_string().contains("already written"));
        assert_eq!(read(dir.path()).unwrap()["x"].text, "1.0");
    }
}
