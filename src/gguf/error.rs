use thiserror::Error;

/// Everything that can be wrong with a GGUF file. Each variant names the problem and, where it
/// helps, the byte offset where it was found.
#[derive(Debug, Error)]
pub enum GgufError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a GGUF file (magic bytes are {0:02x?}, expected \"GGUF\")")]
    BadMagic([u8; 4]),
    #[error("this GGUF file is big-endian; only little-endian files are supported")]
    BigEndian,
    #[error("unsupported GGUF version {0} (supported: 2 and 3)")]
    UnsupportedVersion(u32),
    #[error("file is truncated: needed {needed} bytes at offset {offset} while reading {what}, but the file has {len} bytes")]
    Truncated {
        what: String,
        offset: usize,
        needed: usize,
        len: usize,
    },
    #[error("{what} count {count} at offset {offset} is impossible for a file of {len} bytes")]
    AbsurdCount {
        what: String,
        count: u64,
        offset: usize,
        len: usize,
    },
    #[error("metadata key at offset {offset} is not valid UTF-8")]
    BadUtf8 { offset: usize },
    #[error("unknown metadata value type {ty} for key {key:?}")]
    UnknownValueType { key: String, ty: u32 },
    #[error("metadata arrays nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("duplicate metadata key {0:?}")]
    DuplicateKey(String),
    #[error("duplicate tensor name {0:?}")]
    DuplicateTensor(String),
    #[error("general.alignment must be a non-zero power of two, got {0}")]
    BadAlignment(u64),
    #[error("tensor {name:?}: {problem}")]
    BadTensor { name: String, problem: String },
    #[error("metadata key {key:?}: {problem}")]
    BadMetadata { key: String, problem: String },
}

pub type Result<T> = std::result::Result<T, GgufError>;
