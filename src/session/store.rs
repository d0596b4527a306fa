//! Named sessions in the user's data directory: list, save, load, rename, delete.

use super::error::{Result, SessionError};
use super::format::{SessionData, SessionHeader};
use super::{atomic, Restored};
use crate::context::ContextParams;
use crate::model::Model;
use crate::tokenizer::Tokenizer;
use std::fs;
use std::path::{Path, PathBuf};

/// File extension of named sessions.
pub const EXTENSION: &str = "hsession";
/// Environment variable that overrides the data directory (tests, portable installs).
pub const DATA_DIR_ENV: &str = "HEARTH_DATA_DIR";

/// One entry of [`SessionStore::list`].
#[derive(Debug)]
pub struct SessionInfo {
    pub name: String,
    pub path: PathBuf,
    /// Bytes on disk.
    pub size: u64,
    /// The file's header, or why it could not be read (the entry is still listed so the user
    /// can delete it).
    pub header: Result<SessionHeader>,
}

impl SessionInfo {
    pub fn model_name(&self) -> Option<&str> {
        self.header.as_ref().ok().map(|h| h.model_name.as_str())
    }
    pub fn n_tokens(&self) -> Option<usize> {
        self.header.as_ref().ok().map(|h| h.n_tokens)
    }
    /// Save time in ms since the epoch.
    pub fn saved_ms(&self) -> Option<u64> {
        self.header.as_ref().ok().map(|h| h.saved_ms)
    }
}

/// A directory of sessions, addressed by name (`<dir>/<name>.hsession`).
#[derive(Clone, Debug)]
pub struct SessionStore {
    dir: PathBuf,
}

/// hearth's data directory: `$HEARTH_DATA_DIR`, else the platform's (e.g.
/// `~/.local/share/hearth` on Linux).
pub fn data_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "hearth")
        .map(|p| p.data_dir().to_path_buf())
        .ok_or(SessionError::NoDataDir)
}

impl SessionStore {
    /// The store in `data_dir()/sessions` (created on the first save).
    pub fn open_default() -> Result<SessionStore> {
        Ok(SessionStore::at(data_dir()?.join("sessions")))
    }

    pub fn at(dir: impl Into<PathBuf>) -> SessionStore {
        SessionStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of session `name` (which must be a valid name).
    pub fn path_of(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        Ok(self.dir.join(format!("{name}.{EXTENSION}")))
    }

    pub fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.path_of(name)?.exists())
    }

    /// All sessions, newest first (by save time; unreadable ones last). Reads only headers.
    pub fn list(&self) -> Result<Vec<SessionInfo>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(SessionError::io(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| SessionError::io(&self.dir, e))?;
            let path = entry.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(&format!(".{EXTENSION}")))
            else {
                continue;
            };
            if name.starts_with('.') || validate_name(name).is_err() {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            out.push(SessionInfo {
                name: name.to_string(),
                header: super::read_header(&path),
                path,
                size: meta.len(),
            });
        }
        out.sort_by(|a, b| {
            b.saved_ms()
                .cmp(&a.saved_ms())
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(out)
    }

    /// Saves `data` as `name`. An existing session of that name is replaced only when
    /// `overwrite` is set (else [`SessionError::AlreadyExists`]); the replacement is atomic.
    /// Returns the file's size.
    pub fn save(&self, name: &str, data: &SessionData<'_>, overwrite: bool) -> Result<u64> {
        let path = self.path_of(name)?;
        if !overwrite && path.exists() {
            return Err(SessionError::AlreadyExists {
                name: name.to_string(),
            });
        }
        self.create_dir()?;
        super::save_to_path(&path, data)
    }

    /// [`SessionStore::save`] with the writer wrapped (to test failures).
    pub fn save_with(
        &self,
        name: &str,
        data: &SessionData<'_>,
        overwrite: bool,
        wrap: atomic::WrapWriter<'_>,
    ) -> Result<u64> {
        let path = self.path_of(name)?;
        if !overwrite && path.exists() {
            return Err(SessionError::AlreadyExists {
                name: name.to_string(),
            });
        }
        self.create_dir()?;
        super::save_to_path_with(&path, data, wrap)
    }

    fn create_dir(&self) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(|e| SessionError::io(&self.dir, e))
    }

    /// Reads the header of `name`.
    pub fn header(&self, name: &str) -> Result<SessionHeader> {
        super::read_header(&self.existing(name)?)
    }

    /// Reads, checks and restores `name` for `model` and `params`. On a mismatch
    /// ([`SessionError::is_mismatch`]) use [`SessionStore::read_transcript`] to re-evaluate.
    pub fn load(
        &self,
        name: &str,
        model: &Model,
        tokenizer: &Tokenizer,
        params: &ContextParams,
    ) -> Result<Restored> {
        super::load(&self.existing(name)?, model, tokenizer, params)
    }

    /// Reads only the header and transcript (and sampler settings), skipping the KV cache.
    pub fn read_transcript(&self, name: &str) -> Result<super::Session> {
        super::read_session(&self.existing(name)?, false)
    }

    /// Renames a session; refuses to replace an existing one.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let src = self.existing(from)?;
        let dst = self.path_of(to)?;
        if from == to {
            return Ok(());
        }
        if dst.exists() {
            return Err(SessionError::AlreadyExists {
                name: to.to_string(),
            });
        }
        // `hard_link` fails if the target appeared meanwhile, so nothing is ever replaced.
        match fs::hard_link(&src, &dst) {
            Ok(()) => fs::remove_file(&src).map_err(|e| SessionError::io(&src, e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(SessionError::AlreadyExists {
                    name: to.to_string(),
                })
            }
            // File systems without hard links: a plain rename after the check above.
            Err(_) => fs::rename(&src, &dst).map_err(|e| SessionError::io(&dst, e)),
        }
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        let p = self.existing(name)?;
        fs::remove_file(&p).map_err(|e| SessionError::io(&p, e))
    }

    fn existing(&self, name: &str) -> Result<PathBuf> {
        let p = self.path_of(name)?;
        if !p.is_file() {
            return Err(SessionError::NotFound {
                name: name.to_string(),
            });
        }
        Ok(p)
    }
}

/// Session names: 1 to 100 characters, no path separators or control characters, not starting
/// with a dot or a space.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(SessionError::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.chars().count() > 100 {
        return bad("it is longer than 100 characters");
    }
    if name.starts_with('.') || name.starts_with(' ') || name.ends_with(' ') {
        return bad("it may not start with a dot or start or end with a space");
    }
    if let Some(c) = name.chars().find(|&c| {
        c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
    }) {
        return bad(&format!("it contains {c:?}"));
    }
    Ok(())
}
