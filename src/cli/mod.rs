//! The command line: one module per subcommand.

pub mod bench;
pub mod chat;
pub mod common;
pub mod generate;
pub mod info;
pub mod perplexity;
pub mod tokenize;
