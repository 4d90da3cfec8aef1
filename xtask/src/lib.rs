pub mod assignment;
pub mod book;
pub mod perf;
pub mod tools;
