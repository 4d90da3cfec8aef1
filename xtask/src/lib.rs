pub mod book;
pub mod tools;
