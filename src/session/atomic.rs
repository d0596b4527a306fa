//! Atomic file replacement: write a temporary file in the same directory, fsync it, rename it
//! over the target, fsync the directory. A crash or a failed write at any point leaves either
//! the previous file or the new one, never a mix; the temporary file is removed on errors.

use super::error::{Result, SessionError};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Wraps the temporary file's writer, e.g. with [`DiskFullAfter`] to test failures.
pub trait WrapFile {
    fn wrap<'a>(&mut self, file: &'a mut File) -> Box<dyn Write + 'a>;
}

/// Writes to the file as it is.
pub struct Plain;

impl WrapFile for Plain {
    fn wrap<'a>(&mut self, file: &'a mut File) -> Box<dyn Write + 'a> {
        Box::new(file)
    }
}

/// Simulates a disk that fills up after this many bytes ([`FailAfter`]).
pub struct DiskFullAfter(pub u64);

impl WrapFile for DiskFullAfter {
    fn wrap<'a>(&mut self, file: &'a mut File) -> Box<dyn Write + 'a> {
        Box::new(FailAfter::new(file, self.0))
    }
}

pub type WrapWriter<'w> = &'w mut dyn WrapFile;

/// Prefix of temporary files; `list` ignores names starting with a dot.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writes `path` atomically with `body`; returns what `body` returned.
pub fn write_atomic<T>(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> Result<T> {
    write_atomic_with(path, &mut Plain, body)
}

/// [`write_atomic`] with the file's writer wrapped by `wrap` (tests inject failures here).
pub fn write_atomic_with<T>(
    path: &Path,
    wrap: WrapWriter<'_>,
    body: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> Result<T> {
    let previous_intact = path.exists();
    let fail = |source: io::Error| SessionError::SaveFailed {
        path: path.to_path_buf(),
        source,
        previous_intact,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = temp_path(&dir, path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(fail)?;
    let result = (|| -> io::Result<T> {
        let out = {
            let mut inner = wrap.wrap(&mut file);
            let mut w = BufWriter::with_capacity(256 << 10, &mut inner);
            let out = body(&mut w)?;
            w.flush()?;
            out
        };
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        Ok(out)
    })();
    match result {
        Ok(out) => {
            // The rename is done; syncing the directory makes it durable. A failure here cannot
            // be undone, and the new file is in place, so report success.
            let _ = sync_dir(&dir);
            Ok(out)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(fail(e))
        }
    }
}

fn temp_path(dir: &Path, target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(
        "{TEMP_PREFIX}{name}.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// A writer that accepts `limit` bytes, then fails like a full disk (ENOSPC).
pub struct FailAfter<W> {
    inner: W,
    left: u64,
}

impl<W> FailAfter<W> {
    pub fn new(inner: W, limit: u64) -> Self {
        FailAfter { inner, left: limit }
    }
}

/// The error a full disk gives.
pub fn no_space() -> io::Error {
    #[cfg(unix)]
    {
        io::Error::from_raw_os_error(28)
    }
    #[cfg(not(unix))]
    {
        io::Error::new(io::ErrorKind::StorageFull, "no space left on device")
    }
}

impl<W: Write> Write for FailAfter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(no_space());
        }
        let n = buf.len().min(self.left as usize);
        let n = self.inner.write(&buf[..n])?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
