//! Where the full data sets are looked for: the `--data-dir` flag, else the `AE_DATA_DIR`
//! environment variable, else `data/` at the top of the workspace — and which of the three it was,
//! so that errors can say so.

use std::fmt;
use std::path::PathBuf;

use crate::catalogue::DatasetKind;

/// Environment variable naming the data directory.
///
/// ```
/// assert_eq!(ae_toolkit::data_dir::DATA_DIR_ENV, "AE_DATA_DIR");
/// ```
pub const DATA_DIR_ENV: &str = "AE_DATA_DIR";

/// Where the data directory came from.
///
/// It decides what a missing directory means: a mistake when named explicitly, the embedded
/// subset when it is the workspace default.
///
/// ```
/// use ae_toolkit::data::{load, DataDir, DataDirOrigin, DataSource, DatasetKind};
/// let tmp = tempfile::tempdir().unwrap();
/// let missing = tmp.path().join("not-fetched-yet");
/// let default = DataDir { path: missing.clone(), origin: DataDirOrigin::Default };
/// assert_eq!(load(DatasetKind::Mnist, &default).unwrap().source, DataSource::Embedded);
/// let flag = DataDir { path: missing, origin: DataDirOrigin::Flag };
/// assert!(load(DatasetKind::Mnist, &flag).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataDirOrigin {
    /// The `--data-dir` flag.
    Flag,
    /// The `AE_DATA_DIR` environment variable.
    Env,
    /// `data/` at the top of the workspace.
    Default,
}

/// A data directory and where it came from.
///
/// ```
/// use ae_toolkit::data::{DataDir, DataDirOrigin};
/// let d = DataDir { path: "/srv/data".into(), origin: DataDirOrigin::Env };
/// assert_eq!(d.to_string(), "/srv/data (from AE_DATA_DIR)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    /// The directory.
    pub path: PathBuf,
    /// Flag, environment or default.
    pub origin: DataDirOrigin,
}

impl DataDir {
    /// Resolves the data directory: the flag, then `AE_DATA_DIR`, then the workspace default.
    ///
    /// ```
    /// use ae_toolkit::data::{DataDir, DataDirOrigin};
    /// let d = DataDir::resolve(Some("/tmp/my-data".into()));
    /// assert_eq!(d.origin, DataDirOrigin::Flag);
    /// ```
    pub fn resolve(flag: Option<PathBuf>) -> DataDir {
        let env = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty());
        match (flag, env) {
            (Some(path), _) => DataDir {
                path,
                origin: DataDirOrigin::Flag,
            },
            (None, Some(path)) => DataDir {
                path: path.into(),
                origin: DataDirOrigin::Env,
            },
            (None, None) => DataDir {
                path: crate::paths::workspace_root().join("data"),
                origin: DataDirOrigin::Default,
            },
        }
    }

    /// The subdirectory holding one data set.
    ///
    /// ```
    /// use ae_toolkit::data::{DataDir, DatasetKind};
    /// let d = DataDir::resolve(Some("data".into()));
    /// assert_eq!(d.dataset_dir(DatasetKind::FashionMnist), std::path::Path::new("data/fashion-mnist"));
    /// ```
    pub fn dataset_dir(&self, kind: DatasetKind) -> PathBuf {
        self.path.join(kind.dir_name())
    }
}

impl DataDir {
    /// Where the directory came from, in words.
    ///
    /// ```
    /// use ae_toolkit::data::{DataDir, DataDirOrigin};
    /// let d = DataDir { path: "data".into(), origin: DataDirOrigin::Default };
    /// assert_eq!(d.origin_text(), "the workspace default");
    /// assert_eq!(DataDir::resolve(Some("data".into())).origin_text(), "from --data-dir");
    /// ```
    pub fn origin_text(&self) -> &'static str {
        match self.origin {
            DataDirOrigin::Flag => "from --data-dir",
            DataDirOrigin::Env => "from AE_DATA_DIR",
            DataDirOrigin::Default => "the workspace default",
        }
    }
}

impl fmt::Display for DataDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path.display(), self.origin_text())
    }
}
