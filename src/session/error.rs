//! Everything that can go wrong reading, checking, restoring or writing a session.

use std::path::PathBuf;

/// A session error. Format problems (`Empty` … `Corrupt`) mean the file cannot be used at all;
/// mismatches (see [`SessionError::is_mismatch`]) mean it is a good file for another model or
/// context, whose transcript can still be read and re-evaluated.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the session file is empty")]
    Empty,
    #[error("not a hearth session file (it starts with {found:02x?})")]
    NotASession { found: Vec<u8> },
    #[error(
        "the session was written in format version {found}, newer than this hearth reads \
         (up to {supported}): update hearth to open it"
    )]
    NewerVersion { found: u32, supported: u32 },
    #[error("session format version {found} does not exist (this hearth reads 1 to {supported})")]
    BadVersion { found: u32, supported: u32 },
    #[error(
        "the session file is truncated: {what} needs {needed} bytes at offset {offset}, \
         but the file ends at {len}"
    )]
    Truncated {
        what: String,
        offset: u64,
        needed: u64,
        len: u64,
    },
    #[error("the {section} section (at offset {offset}) is damaged: its checksum does not match")]
    Checksum { section: String, offset: u64 },
    #[error("the {section} section is invalid: {problem}")]
    Corrupt { section: String, problem: String },

    #[error(
        "the session was saved with another model ({saved_name}, fingerprint {saved}), \
         not {current_name} (fingerprint {current})"
    )]
    ModelMismatch {
        saved_name: String,
        saved: String,
        current_name: String,
        current: String,
    },
    #[error(
        "the session was saved with a context of {saved} tokens; this one has {current} \
         (use -c {saved} to resume it)"
    )]
    ContextSizeMismatch { saved: usize, current: usize },
    #[error(
        "the session was saved with RoPE base {saved_base} and scale {saved_scale}; this context \
         uses base {current_base} and scale {current_scale}"
    )]
    RopeMismatch {
        saved_base: f32,
        saved_scale: f32,
        current_base: f32,
        current_scale: f32,
    },
    #[error("the session's KV cache is {saved}; this hearth keeps it as {current}")]
    KvTypeMismatch { saved: String, current: String },
    #[error("the session does not fit this model: {problem}")]
    Incompatible { problem: String },

    #[error("there is no session named {name:?}")]
    NotFound { name: String },
    #[error("a session named {name:?} already exists")]
    AlreadyExists { name: String },
    #[error("{name:?} cannot be a session name: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("could not find the user's data directory (set HEARTH_DATA_DIR)")]
    NoDataDir,
    #[error(
        "saving {} failed: {source}; {}",
        path.display(),
        if *previous_intact { "the previous version of the file is intact" }
        else { "no file was written" }
    )]
    SaveFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
        /// Whether a previous file existed (and is untouched).
        previous_intact: bool,
    },
}

impl SessionError {
    /// A good session made for another model or context: the chat can offer to re-evaluate the
    /// transcript ([`crate::session::read_transcript`]) instead of restoring the cache.
    pub fn is_mismatch(&self) -> bool {
        matches!(
            self,
            SessionError::ModelMismatch { .. }
                | SessionError::ContextSizeMismatch { .. }
                | SessionError::RopeMismatch { .. }
                | SessionError::KvTypeMismatch { .. }
                | SessionError::Incompatible { .. }
        )
    }

    /// The file is damaged or not a (readable) session at all.
    pub fn is_bad_file(&self) -> bool {
        matches!(
            self,
            SessionError::Empty
                | SessionError::NotASession { .. }
                | SessionError::NewerVersion { .. }
                | SessionError::BadVersion { .. }
                | SessionError::Truncated { .. }
                | SessionError::Checksum { .. }
                | SessionError::Corrupt { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> SessionError {
        SessionError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(section: &str, problem: impl Into<String>) -> SessionError {
        SessionError::Corrupt {
            section: section.to_string(),
            problem: problem.into(),
        }
    }
}

pub type Result<T, E = SessionError> = std::result::Result<T, E>;
