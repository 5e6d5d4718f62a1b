//! One module per benchmark.

pub mod fanout;
pub mod feed;
pub mod login;
pub mod posts;
