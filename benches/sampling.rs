//! Sampler chain cost per token (criterion-free; `cargo bench --bench sampling`).

use std::time::Instant;

use hearth::sampling::{Sampler, SamplerSettings};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn logits(n: usize, spread: f32, seed: u64) -> Vec<f32> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..n).map(|_| r.gen_range(-1.0f32..1.0) * spread).collect()
}

fn peaked(n: usize, seed: u64) -> Vec<f32> {
    // roughly LLM-shaped: a Gaussian bulk plus a few strong candidates
    let mut r = StdRng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            let (a, b): (f32, f32) = (r.gen_range(1e-7..1.0), r.gen_range(0.0..1.0));
            (-2.0 * a.ln()).sqrt() * (std::f32::consts::TAU * b).cos() * 2.5
        })
        .collect();
    for i in 0..5 {
        v[r.gen_range(0..n)] = 14.0 - i as f32;
    }
    v
}

/// On-CPU time of this thread in ns (Linux schedstat), robust to a loaded box.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn bench(label: &str, settings: SamplerSettings, logits: &[f32], iters: usize) {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if let Some(f) = filter {
        if !label.contains(&f) {
            return;
        }
    }
    let mut s = Sampler::new(settings, logits.len(), &[], Some(13)).unwrap();
    for _ in 0..10 {
        let t = s.sample(logits);
        s.accept(t);
    }
    let c0 = cpu_ns();
    let t0 = Instant::now();
    let mut kept = 0usize;
    for _ in 0..iters {
        let t = s.sample(logits);
        kept += s.candidates().len();
        s.accept(t);
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / iters as f64;
    let cpu_us = match (c0, cpu_ns()) {
        (Some(a), Some(b)) => format!("{:>9.1}", (b - a) as f64 / 1e3 / iters as f64),
        _ => "      n/a".to_string(),
    };
    println!(
        "{label:<42} wall {us:>9.1} us/token  cpu {cpu_us} us/token  (avg {:>6} candidates at pick)",
        kept / iters
    );
}

fn main() {
    let default = SamplerSettings {
        seed: 1,
        repeat_penalty: 1.1,
        ..Default::default()
    };
    let full = SamplerSettings {
        top_k: 0,
        ..default.clone()
    };
    let all = SamplerSettings {
        top_k: 0,
        tfs_z: 0.95,
        typical_p: 0.95,
        ..default.clone()
    };
    for n in [49_152usize, 262_144] {
        let iters = if n > 100_000 { 50 } else { 200 };
        for (kind, l) in [
            ("uniform[-1,1]", logits(n, 1.0, 1)),
            ("uniform[-10,10]", logits(n, 10.0, 2)),
            ("peaked", peaked(n, 3)),
        ] {
            println!("-- n_vocab = {n}, logits {kind}");
            bench("default chain (top_k=40)", default.clone(), &l, iters);
            bench("full vocab (top_k=0)", full.clone(), &l, iters);
            bench(
                "full vocab + tfs + typical (sorts once)",
                all.clone(),
                &l,
                iters.min(50),
            );
            bench(
                "mirostat v2",
                SamplerSettings {
                    mirostat: 2,
                    ..default.clone()
                },
                &l,
                iters,
            );
            bench(
                "greedy",
                SamplerSettings {
                    temp: 0.0,
                    ..default.clone()
                },
                &l,
                iters,
            );
        }
    }
}
