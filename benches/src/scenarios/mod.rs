//! One module per benchmark.

pub mod login;
pub mod posts;
