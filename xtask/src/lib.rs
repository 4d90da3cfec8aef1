pub mod assignment;
pub mod book;
pub mod perf;
pub mod reproduce;
pub mod tools;

/// The cargo running this task (`$CARGO`, which cargo sets for `cargo xtask`), else `cargo` on
/// `PATH`: the builds a task starts then use the same toolchain as the task itself.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}
