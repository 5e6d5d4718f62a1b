//! One module per benchmark.

pub mod data;
pub mod fanout;
pub mod feed;
pub mod login;
pub mod mix;
pub mod posts;
pub mod stream;
