//! The IDX file format of MNIST and Fashion-MNIST, from the [`mnist_idx`] crate (which needs no
//! dfdx, so it can be tested, property-tested and fuzzed on its own).
//!
//! Its errors convert into [`DataError`](crate::error::DataError), which adds how to get good
//! data again:
//!
//! ```
//! use ae_toolkit::{error::{DataError, FETCH_HINT}, idx::{Idx, IdxKind}};
//! let err = DataError::from(Idx::parse(&[0, 0, 8, 1], IdxKind::Labels, "labels").unwrap_err());
//! assert!(matches!(err, DataError::Corrupt { .. }));
//! assert!(err.to_string().starts_with("labels is corrupt") && err.to_string().ends_with(FETCH_HINT));
//! ```

pub use mnist_idx::*;
