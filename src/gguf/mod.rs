//! Memory-mapped GGUF reader (versions 2 and 3): header, typed metadata, tensor infos. Tensor
//! data is borrowed from the map, never copied.

mod bytes;
mod error;
mod reader;
mod value;
mod writer;

pub use bytes::MappedBytes;
pub use error::{GgufError, Result};
pub use value::Value;
pub use writer::GgufBuilder;

use crate::quant::GgmlType;
use reader::Cursor;
use std::collections::HashMap;
use std::path::Path;

const MAGIC: &[u8; 4] = b"GGUF";
/// ggml's limit on tensor dimensions.
pub const MAX_DIMS: usize = 4;
const DEFAULT_ALIGNMENT: u64 = 32;

/// One tensor's description and its bytes in the map.
#[derive(Clone)]
pub struct TensorInfo {
    pub name: String,
    pub ty: GgmlType,
    /// Dimensions, innermost (contiguous) first, as ggml orders them.
    pub dims: Vec<u64>,
    /// Offset of the data relative to the start of the data section.
    pub offset: u64,
    pub data: MappedBytes,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// Elements in one row (the first dimension).
    pub fn row_len(&self) -> usize {
        self.dims[0] as usize
    }
    /// Number of rows (the product of the other dimensions).
    pub fn n_rows(&self) -> usize {
        self.dims[1..].iter().product::<u64>() as usize
    }
}

impl std::fmt::Debug for TensorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {:?} @{}",
            self.name, self.ty, self.dims, self.offset
        )
    }
}

/// A parsed GGUF file.
pub struct GgufFile {
    pub version: u32,
    pub alignment: u64,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    /// Where the tensor data section starts.
    pub data_offset: usize,
    /// Size of the whole file in bytes.
    pub file_size: usize,
    meta_index: HashMap<String, usize>,
    tensor_index: HashMap<String, usize>,
    bytes: MappedBytes,
}

impl GgufFile {
    /// Memory-map and parse a file.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let bytes = MappedBytes::map_file(path).map_err(|source| GgufError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(bytes)
    }

    /// Parse a file held in memory (tests, tools).
    pub fn from_vec(buf: Vec<u8>) -> Result<GgufFile> {
        Self::parse(MappedBytes::from_vec(buf))
    }

    fn parse(bytes: MappedBytes) -> Result<GgufFile> {
        let buf: &[u8] = &bytes;
        let mut c = Cursor::new(buf);
        let magic: [u8; 4] = c.bytes(4, "magic")?.try_into().expect("4 bytes");
        if &magic != MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = c.u32("version")?;
        if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
            return Err(GgufError::BigEndian);
        }
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        // A tensor info takes at least 8 (name length) + 4 (n_dims) + 8 (one dim) + 4 + 8 bytes;
        // a key/value pair at least 8 + 4 + 1.
        let n_tensors = c.count("tensor", 32)?;
        let n_kv = c.count("metadata key/value", 13)?;

        let mut metadata = Vec::with_capacity(n_kv);
        let mut meta_index = HashMap::with_capacity(n_kv);
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let ty = c.u32(&format!("type of {key:?}"))?;
            let value = c.value(&key, ty, 0)?;
            if meta_index.insert(key.clone(), metadata.len()).is_some() {
                return Err(GgufError::DuplicateKey(key));
            }
            metadata.push((key, value));
        }

        let alignment = match meta_index.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(&i) => {
                let a = metadata[i].1.as_u64().unwrap_or(0);
                if a == 0 || !a.is_power_of_two() || a > 1 << 30 {
                    return Err(GgufError::BadAlignment(a));
                }
                a
            }
        };

        let mut raw = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let n_dims = c.u32(&format!("dimension count of tensor {name:?}"))? as usize;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::BadTensor {
                    name,
                    problem: format!("{n_dims} dimensions (must be 1 to {MAX_DIMS})"),
                });
            }
            let mut dims = Vec::with_capacity(n_dims);
            for _ in 0..n_dims {
                dims.push(c.u64(&format!("dimensions of tensor {name:?}"))?);
            }
            let ty_raw = c.u32(&format!("type of tensor {name:?}"))?;
            let offset = c.u64(&format!("offset of tensor {name:?}"))?;
            raw.push((name, dims, ty_raw, offset));
        }

        let data_offset = align_up(c.pos() as u64, alignment);
        let data_offset = usize::try_from(data_offset)
            .ok()
            .filter(|&d| d <= buf.len() || n_tensors == 0)
            .ok_or(GgufError::Truncated {
                what: "padding before tensor data".into(),
                offset: c.pos(),
                needed: (data_offset as usize).saturating_sub(c.pos()),
                len: buf.len(),
            })?;
        let data_len = buf.len().saturating_sub(data_offset) as u64;

        let mut tensors = Vec::with_capacity(n_tensors);
        let mut tensor_index = HashMap::with_capacity(n_tensors);
        for (name, dims, ty_raw, offset) in raw {
            let bad = |problem: String| GgufError::BadTensor {
                name: name.clone(),
                problem,
            };
            let ty = GgmlType::from_u32(ty_raw)
                .ok_or_else(|| bad(format!("unknown tensor type {ty_raw}")))?;
            if matches!(ty, GgmlType::Q8_1 | GgmlType::Q8K) {
                return Err(bad(format!(
                    "{ty} is an activation format, not a weight format"
                )));
            }
            if dims.iter().any(|&d| d == 0) {
                return Err(bad(format!("has a zero dimension: {dims:?}")));
            }
            let n_el = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .filter(|&n| n < 1 << 52)
                .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
            if dims[0] % ty.block_size() as u64 != 0 {
                return Err(bad(format!(
                    "row length {} is not a multiple of the {ty} block size {}",
                    dims[0],
                    ty.block_size()
                )));
            }
            let size = (n_el / ty.block_size() as u64) * ty.type_size() as u64;
            if offset % alignment != 0 {
                return Err(bad(format!(
                    "data offset {offset} is not aligned to {alignment}"
                )));
            }
            let end = offset.checked_add(size).filter(|&e| e <= data_len);
            let Some(_) = end else {
                return Err(bad(format!(
                    "data [{offset}, +{size}) runs past the end of the data section ({data_len} bytes); the file may be truncated"
                )));
            };
            let start = data_offset + offset as usize;
            let data = bytes.slice(start, size as usize);
            if tensor_index.insert(name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push(TensorInfo {
                name,
                ty,
                dims,
                offset,
                data,
            });
        }

        Ok(GgufFile {
            version,
            alignment,
            metadata,
            tensors,
            data_offset,
            file_size: buf.len(),
            meta_index,
            tensor_index,
            bytes,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.meta_index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The bytes before the tensor data: header, metadata and tensor table.
    pub fn header_bytes(&self) -> &[u8] {
        &self.bytes[..self.data_offset.min(self.bytes.len())]
    }

    // Typed accessors with errors that name the key.

    fn typed<T>(
        &self,
        key: &str,
        want: &str,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| GgufError::BadMetadata {
                key: key.to_string(),
                problem: format!("expected {want}, found {}", v.type_name()),
            }),
        }
    }
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "an unsigned integer", Value::as_u64)
    }
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a number", Value::as_f64)
    }
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a boolean", Value::as_bool)
    }
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(GgufError::BadMetadata {
                key: key.to_string(),
                problem: format!("expected a string, found {}", v.type_name()),
            }),
        }
    }
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.get_u64(key)?.ok_or_else(|| missing(key))
    }
    pub fn require_str(&self, key: &str) -> Result<&str> {
        self.get_str(key)?.ok_or_else(|| missing(key))
    }
    pub fn architecture(&self) -> Result<&str> {
        self.require_str("general.architecture")
    }
}

fn missing(key: &str) -> GgufError {
    GgufError::BadMetadata {
        key: key.to_string(),
        problem: "missing".into(),
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

#[cfg(test)]
mod tests;
