
pub mod gemm;
pub mod microkernel;

#[macro_use]
extern crate gemm_common;
