pub mod assignment;
pub mod book;
pub mod perf;
pub mod reproduce;
pub mod tools;
