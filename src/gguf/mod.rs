//! Memory-mapped GGUF reader.
