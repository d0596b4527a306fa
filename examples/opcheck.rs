//! Operation-by-operation comparison with llama.cpp: feeds each of hearth's layer operations the
//! input llama.cpp saw (dumped by `scripts/dump_tensors.py`) and reports how far hearth's output
//! is from llama.cpp's (max |Δ| and how many elements differ in any bit).
//!
//! `cargo run --release --example opcheck -- MODEL DUMP_DIR/STEP LAYER N_PAST`

use hearth::context::KvCache;
use hearth::gguf::GgufFile;
use hearth::model::attention::{attention, AttnShape};
use hearth::model::ops::{gated, rms_norm, Activation, Rope, RopeStyle};
use hearth::model::LayerCacheSpec;
use std::path::{Path, PathBuf};

mod support;
use support::{load, mm, report, vector};

/// A dumped tensor by its llama.cpp name.
fn get(dir: &Path, name: &str) -> Vec<f32> {
    load(dir, &format!("{name}.f32"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let f = GgufFile::open(&args[1]).unwrap();
    let dir = PathBuf::from(&args[2]);
    let il: usize = args[3].parse().unwrap();
    let n_past: usize = args[4].parse().unwrap();
    let d = 576;
    let (hd, nh, nkv) = (64, 9, 3);
    let l = |s: &str| format!("{s}-{il}");
    let w = |s: &str| format!("blk.{il}.{s}.weight");
    let input = if il == 0 {
        get(&dir, "embd")
    } else {
        get(&dir, &format!("l_out-{}", il - 1))
    };
    let n = input.len() / d;

    // RMS norm, then the weight.
    let mut ours = input.clone();
    let ones = vec![1f32; d];
    ours.chunks_mut(d).for_each(|r| rms_norm(r, &ones, 1e-5));
    report("norm", &ours, &get(&dir, &l("norm")));
    let mut ours = input.clone();
    let g = vector(&f, &w("attn_norm"));
    ours.chunks_mut(d).for_each(|r| rms_norm(r, &g, 1e-5));
    report("attn_norm", &ours, &get(&dir, &l("attn_norm")));

    let xn = get(&dir, &l("attn_norm"));
    report("Qcur", &mm(&f, &w("attn_q"), &xn), &get(&dir, &l("Qcur")));
    report("Kcur", &mm(&f, &w("attn_k"), &xn), &get(&dir, &l("Kcur")));
    report("Vcur", &mm(&f, &w("attn_v"), &xn), &get(&dir, &l("Vcur")));

    let rope = Rope {
        style: RopeStyle::Interleaved,
        dims: hd,
        freq_base: 100000.0,
        freq_scale: 1.0,
    };
    let mut q = get(&dir, &l("Qcur"));
    let mut k = get(&dir, &l("Kcur"));
    let mut table = Vec::new();
    for t in 0..n {
        rope.table(n_past + t, &mut table);
        rope.apply(&mut q[t * d..(t + 1) * d], hd, &table);
        rope.apply(&mut k[t * nkv * hd..(t + 1) * nkv * hd], hd, &table);
    }
    report("Qcur roped", &q, &get(&dir, &format!("{}#2", l("Qcur"))));
    report("Kcur roped", &k, &get(&dir, &format!("{}#2", l("Kcur"))));

    // Attention with llama.cpp's roped q and k (only the batch's own positions when n_past = 0).
    if n_past == 0 {
        let q = get(&dir, &format!("{}#2", l("Qcur")));
        let k = get(&dir, &format!("{}#2", l("Kcur")));
        let v = get(&dir, &l("Vcur"));
        let mut cache = KvCache::new(
            &[LayerCacheSpec {
                kv_dim: k.len() / n,
                window: None,
            }],
            n,
            n,
        );
        cache.store_k(0, 0, &k);
        let shape = AttnShape {
            n_head: nh,
            n_head_kv: nkv,
            head_dim: hd,
            scale: 1.0 / (hd as f32).sqrt(),
            window: None,
            softcap: None,
        };
        let view = cache.view(0);
        let mut att = vec![0f32; n * d];
        attention(shape, &q, &v, &view, 0, n, &mut att);
        report("kqv_out", &att, &get(&dir, &l("kqv_out")));
    }

    let kqv = get(&dir, &l("kqv_out"));
    report(
        "attn_out",
        &mm(&f, &w("attn_output"), &kqv),
        &get(&dir, &l("attn_out")),
    );
    let ffn_inp = get(&dir, &l("ffn_inp"));
    let mut ours = ffn_inp.clone();
    let g = vector(&f, &w("ffn_norm"));
    ours.chunks_mut(d).for_each(|r| rms_norm(r, &g, 1e-5));
    report("ffn_norm", &ours, &get(&dir, &l("ffn_norm")));
    let xn = get(&dir, &l("ffn_norm"));
    report(
        "ffn_gate",
        &mm(&f, &w("ffn_gate"), &xn),
        &get(&dir, &l("ffn_gate")),
    );
    report(
        "ffn_up",
        &mm(&f, &w("ffn_up"), &xn),
        &get(&dir, &l("ffn_up")),
    );
    let mut gate = get(&dir, &l("ffn_gate"));
    gated(Activation::Silu, &mut gate, &get(&dir, &l("ffn_up")), 1536);
    report("ffn_swiglu", &gate, &get(&dir, &l("ffn_swiglu")));
    let sw = get(&dir, &l("ffn_swiglu"));
    report(
        "ffn_out",
        &mm(&f, &w("ffn_down"), &sw),
        &get(&dir, &l("ffn_out")),
    );
    if dir.join("result_norm.f32").exists() {
        let rn = get(&dir, "result_norm");
        report(
            "result_output",
            &mm(&f, "token_embd.weight", &rn),
            &get(&dir, "result_output"),
        );
    }
}
