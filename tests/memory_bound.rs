//! Peak resident memory while generating at `-c 4096` stays within the model file plus the
//! KV cache plus 100 MiB: weights are used from the memory map, never copied or expanded.

mod common;

use hearth::model::Model;
use std::process::Command;

#[test]
fn generation_at_4096_context_stays_within_file_plus_kv_plus_100_mib() {
    let path = common::model(common::SMOLLM2);
    let file = std::fs::metadata(&path).unwrap().len() as f64;
    let model = Model::load(&path).unwrap();
    let hp = model.arch.hparams();
    // f16 K and V for every position of every layer.
    let kv = (hp.n_layer * 4096 * hp.kv_dim() * 2 * 2) as f64;
    let o = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["generate", "-m"])
        .arg(&path)
        // About 3,000 prompt tokens: most of the cache is written.
        .args([
            "-p",
            &"The quick brown fox jumps over the lazy dog. ".repeat(300),
        ])
        .args([
            "-c",
            "4096",
            "-n",
            "256",
            "--temp",
            "0",
            "--ignore-eos",
            "-t",
            "2",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let peak_mib: f64 = err
        .lines()
        .find_map(|l| l.strip_prefix("memory: peak resident "))
        .and_then(|r| r.strip_suffix(" MiB"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory line in: {err}"));
    let bound = (file + kv) / (1024.0 * 1024.0) + 100.0;
    eprintln!("peak {peak_mib:.1} MiB, bound {bound:.1} MiB");
    assert!(peak_mib <= bound, "peak {peak_mib} MiB > {bound} MiB");
}
