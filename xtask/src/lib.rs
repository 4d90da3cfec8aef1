pub mod assignment;
pub mod book;
pub mod tools;
