//! hearth: a terminal chat application with its own GGUF inference engine.

pub mod gguf;
pub mod quant;
pub mod sampling;
pub mod tokenizer;
pub mod context;
pub mod model;
pub mod cli;
