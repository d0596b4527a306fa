//! The engine: generation steps, and (for the chat) a background thread that owns the model and
//! its contexts.

pub mod generator;

pub use generator::{Generator, Guidance};
pub mod chat;
pub mod protocol;
pub mod thread;
