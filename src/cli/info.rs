//! `hearth info MODEL`: metadata (long arrays summarized) and a tensor table.

use crate::gguf::GgufFile;
use anyhow::Result;
use std::io::Write;
use std::path::Path;

pub fn run(path: &Path, out: &mut impl Write) -> Result<()> {
    let f = GgufFile::open(path)?;
    writeln!(
        out,
        "{}: GGUF v{}, {} metadata keys, {} tensors, {:.1} MiB",
        path.display(),
        f.version,
        f.metadata.len(),
        f.tensors.len(),
        f.file_size as f64 / (1 << 20) as f64
    )?;
    writeln!(out, "\nmetadata:")?;
    for (k, v) in &f.metadata {
        writeln!(out, "  {k:<44} {v}")?;
    }
    writeln!(out, "\ntensors:")?;
    writeln!(
        out,
        "  {:<36} {:>6} {:>22} {:>12} {:>10}",
        "name", "type", "shape", "elements", "KiB"
    )?;
    let mut total = 0u64;
    for t in &f.tensors {
        let shape = format!("{:?}", t.dims);
        total += t.data.len() as u64;
        writeln!(
            out,
            "  {:<36} {:>6} {:>22} {:>12} {:>10.1}",
            t.name,
            t.ty.name(),
            shape,
            t.n_elements(),
            t.data.len() as f64 / 1024.0
        )?;
    }
    let mut by_type = std::collections::BTreeMap::<&str, (usize, u64)>::new();
    for t in &f.tensors {
        let e = by_type.entry(t.ty.name()).or_default();
        e.0 += 1;
        e.1 += t.data.len() as u64;
    }
    writeln!(out, "\nby type:")?;
    for (ty, (n, bytes)) in by_type {
        writeln!(
            out,
            "  {ty:<6} {n:>4} tensors {:>10.1} MiB",
            bytes as f64 / (1 << 20) as f64
        )?;
    }
    writeln!(
        out,
        "  total  {:>10.1} MiB of weights",
        total as f64 / (1 << 20) as f64
    )?;
    Ok(())
}
