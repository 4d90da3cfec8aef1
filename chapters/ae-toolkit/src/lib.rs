//! What every chapter of *Autoencoders in Rust* shares: real data (MNIST, Fashion-MNIST, with a
//! subset compiled in), mini-batches as dfdx tensors, reconstruction losses, the training loop
//! with metrics and checkpoints, PCA, plots, and the flags of the chapters' `reproduce` examples.
//!
//! A chapter crate holds only what its chapter teaches and takes the rest from here.
#![warn(missing_docs)]

pub mod alloc;
pub mod atomic;
pub mod baseline;
pub mod batch;
pub mod catalogue;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod conv;
pub mod data;
pub mod data_dir;
pub mod device;
pub mod error;
pub mod export;
pub mod fetch;
pub mod history;
pub mod idx;
pub mod losses;
pub mod model;
pub mod optim_state;
pub mod paths;
pub mod pca;
pub mod plot;
pub mod report;
pub mod results;
pub mod threads;
pub mod train;

pub use dfdx;
