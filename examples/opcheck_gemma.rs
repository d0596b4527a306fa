//! Operation-by-operation comparison with llama.cpp for Gemma 3 (see `opcheck.rs` for the
//! llama version): feeds each of hearth's operations of one layer the input llama.cpp saw
//! (dumped by `scripts/dump_tensors.py`) and reports how many output elements differ in any bit.
//!
//! `cargo run --release --example opcheck_gemma -- MODEL DUMP_DIR STEP LAYER`
//! (STEP is `batch` or `then0`, ...; attention is checked for the batch step only.)

use hearth::context::KvCache;
use hearth::gguf::GgufFile;
use hearth::model::attention::{attention, AttnShape};
use hearth::model::ops::{gated, rms_norm, Activation, Rope, RopeStyle};
use hearth::model::LayerCacheSpec;
use std::path::PathBuf;

mod support;
use support::{load, mm, report, vector};

/// `gemma3.attention.layer_norm_rms_epsilon` (the f32 nearest 1e-6).
const EPS: f32 = 1e-6;

fn norm(x: &[f32], w: &[f32]) -> Vec<f32> {
    let mut y = x.to_vec();
    y.chunks_mut(w.len()).for_each(|r| rms_norm(r, w, EPS));
    y
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let f = GgufFile::open(&args[1]).unwrap();
    let root = PathBuf::from(&args[2]);
    let step = &args[3];
    let il: usize = args[4].parse().unwrap();
    let dir = root.join(step);
    let index: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("index.json")).unwrap()).unwrap();
    let files: Vec<(String, i64)> = index
        .iter()
        .filter(|e| e["step"] == step.as_str())
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["op"].as_i64().unwrap(),
            )
        })
        .collect();
    // The unnamed tensor right after `file` (with op `op`).
    let after = |file: &str, op: i64| -> String {
        let i = files.iter().position(|(f, _)| f == file).unwrap();
        files[i + 1..]
            .iter()
            .find(|(_, o)| *o == op)
            .map(|(f, _)| f.clone())
            .unwrap()
    };
    let (d, hd, nh) = (640, 256, 4);
    let local = il % 6 < 5;
    let l = |s: &str| format!("{s}-{il}.f32");
    let w = |s: &str| format!("blk.{il}.{s}.weight");

    let x = if il == 0 {
        let e = load(&dir, "embd.f32");
        let s = (d as f32).sqrt();
        let ours: Vec<f32> = e.iter().map(|v| v * s).collect();
        report("inp_scaled", &ours, &load(&dir, "inp_scaled.f32"));
        load(&dir, "inp_scaled.f32")
    } else {
        load(&dir, &format!("l_out-{}.f32", il - 1))
    };
    let n = x.len() / d;
    report(
        "attn_norm",
        &norm(&x, &vector(&f, &w("attn_norm"))),
        &load(&dir, &l("attn_norm")),
    );
    let xn = load(&dir, &l("attn_norm"));
    report("Qcur", &mm(&f, &w("attn_q"), &xn), &load(&dir, &l("Qcur")));
    report("Kcur", &mm(&f, &w("attn_k"), &xn), &load(&dir, &l("Kcur")));
    report("Vcur", &mm(&f, &w("attn_v"), &xn), &load(&dir, &l("Vcur")));
    let qn = norm(&load(&dir, &l("Qcur")), &vector(&f, &w("attn_q_norm")));
    report("Qcur_normed", &qn, &load(&dir, &l("Qcur_normed")));
    let kn = norm(&load(&dir, &l("Kcur")), &vector(&f, &w("attn_k_norm")));
    report("Kcur_normed", &kn, &load(&dir, &l("Kcur_normed")));

    let n_past = if step == "batch" {
        0
    } else {
        // `thenK` follows the batch and K earlier single tokens.
        let batch_n = load(&root.join("batch"), "inp_scaled.f32").len() / d;
        batch_n + step.trim_start_matches("then").parse::<usize>().unwrap()
    };
    let rope = Rope {
        style: RopeStyle::Halves,
        dims: hd,
        freq_base: if local { 10_000.0 } else { 1_000_000.0 },
        freq_scale: 1.0,
    };
    let mut q = load(&dir, &l("Qcur_normed"));
    let mut k = load(&dir, &l("Kcur_normed"));
    let mut table = Vec::new();
    for t in 0..n {
        rope.table(n_past + t, &mut table);
        rope.apply(&mut q[t * nh * hd..(t + 1) * nh * hd], hd, &table);
        rope.apply(&mut k[t * hd..(t + 1) * hd], hd, &table);
    }
    let qr_file = format!("Qcur-{il}#2.f32");
    report("Qcur roped", &q, &load(&dir, &qr_file));
    report("Kcur roped", &k, &load(&dir, &format!("Kcur-{il}#2.f32")));
    let qs_file = after(&qr_file, 32);
    let qs: Vec<f32> = load(&dir, &qr_file).iter().map(|v| v * 0.0625).collect();
    report("Q scaled", &qs, &load(&dir, &qs_file));

    if n_past == 0 {
        let q = load(&dir, &qs_file);
        let k = load(&dir, &format!("Kcur-{il}#2.f32"));
        let v = load(&dir, &l("Vcur"));
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
            n_head_kv: 1,
            head_dim: hd,
            scale: 1.0,
            window: local.then_some(512),
            softcap: None,
        };
        let view = cache.view(0);
        let mut att = vec![0f32; n * nh * hd];
        attention(shape, &q, &v, &view, 0, n, &mut att);
        report("kqv_out", &att, &load(&dir, &l("kqv_out")));
    }

    let kqv_file = l("kqv_out");
    let wo_file = after(&kqv_file, 29);
    report(
        "attn_output",
        &mm(&f, &w("attn_output"), &load(&dir, &kqv_file)),
        &load(&dir, &wo_file),
    );
    let o = load(&dir, &l("attn_post_norm"));
    let rows = o.len() / d;
    let wo = load(&dir, &wo_file);
    let wo_rows = &wo[(n - rows) * d..];
    let pn = vector(&f, &w("post_attention_norm"));
    report("attn_post_norm", &norm(wo_rows, &pn), &o);
    let sa: Vec<f32> = o
        .iter()
        .zip(&x[(n - rows) * d..])
        .map(|(a, b)| a + b)
        .collect();
    report("sa_out", &sa, &load(&dir, &l("sa_out")));
    let sa = load(&dir, &l("sa_out"));
    report(
        "ffn_norm",
        &norm(&sa, &vector(&f, &w("ffn_norm"))),
        &load(&dir, &l("ffn_norm")),
    );
    let fx = load(&dir, &l("ffn_norm"));
    report(
        "ffn_gate",
        &mm(&f, &w("ffn_gate"), &fx),
        &load(&dir, &l("ffn_gate")),
    );
    report(
        "ffn_up",
        &mm(&f, &w("ffn_up"), &fx),
        &load(&dir, &l("ffn_up")),
    );
    let mut g = load(&dir, &l("ffn_gate"));
    gated(Activation::Gelu, &mut g, &load(&dir, &l("ffn_up")), 2048);
    report("ffn_geglu", &g, &load(&dir, &l("ffn_geglu")));
    let down = f.tensor(&w("ffn_down")).unwrap().ty;
    report(
        &format!("ffn_out ({down})"),
        &mm(&f, &w("ffn_down"), &load(&dir, &l("ffn_geglu"))),
        &load(&dir, &l("ffn_out")),
    );
    let po = norm(&load(&dir, &l("ffn_out")), &vector(&f, &w("post_ffw_norm")));
    report("ffn_post_norm", &po, &load(&dir, &l("ffn_post_norm")));
    let out: Vec<f32> = po.iter().zip(&sa).map(|(a, b)| a + b).collect();
    report("l_out", &out, &load(&dir, &l("l_out")));
    if il == 17 {
        let rn = norm(&load(&dir, &l("l_out")), &vector(&f, "output_norm.weight"));
        report("result_norm", &rn, &load(&dir, "result_norm.f32"));
        report(
            "result_output",
            &mm(&f, "token_embd.weight", &load(&dir, "result_norm.f32")),
            &load(&dir, "result_output.f32"),
        );
    }
}
