//! hearth: a terminal chat application with its own GGUF inference engine.

pub mod cli;
pub mod config;
pub mod context;
pub mod engine;
pub mod gguf;
pub mod model;
pub mod quant;
pub mod sampling;
pub mod session;
pub mod tokenizer;
pub mod tui;
