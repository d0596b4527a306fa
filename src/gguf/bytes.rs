use memmap2::Mmap;
use std::fs::File;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

enum Backing {
    Map(Mmap),
    Vec(Vec<u8>),
}

impl Backing {
    fn as_slice(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Vec(v) => v,
        }
    }
}

/// A read-only window into a shared file map (or an in-memory buffer). Cloning is cheap; the
/// bytes are never copied.
#[derive(Clone)]
pub struct MappedBytes {
    backing: Arc<Backing>,
    start: usize,
    len: usize,
}

impl MappedBytes {
    pub fn map_file(path: &Path) -> std::io::Result<MappedBytes> {
        let file = File::open(path)?;
        // SAFETY: the map is read-only; like every mmap-based model loader we rely on the file
        // not being truncated while hearth runs.
        let map = unsafe { Mmap::map(&file)? };
        let len = map.len();
        Ok(MappedBytes {
            backing: Arc::new(Backing::Map(map)),
            start: 0,
            len,
        })
    }

    pub fn from_vec(v: Vec<u8>) -> MappedBytes {
        let len = v.len();
        MappedBytes {
            backing: Arc::new(Backing::Vec(v)),
            start: 0,
            len,
        }
    }

    /// A sub-window; panics if out of range (callers check bounds first).
    pub fn slice(&self, start: usize, len: usize) -> MappedBytes {
        assert!(start.checked_add(len).is_some_and(|e| e <= self.len));
        MappedBytes {
            backing: self.backing.clone(),
            start: self.start + start,
            len,
        }
    }
}

impl Deref for MappedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.backing.as_slice()[self.start..self.start + self.len]
    }
}
