//! Operation-by-operation comparison with llama.cpp: feeds each of hearth's layer operations the
//! input llama.cpp saw (dumped by `scripts/dump_tensors.py`) and reports how far hearth's output
//! is from llama.cpp's (max |Δ| and how many elements differ in any bit).
//!
//! `cargo run --release --example opcheck -- MODEL DUMP_DIR/STEP LAYER N_PAST`

use hearth::gguf::GgufFile;
use hearth::model::attention::{attention, AttnShape, KvView};
use hearth::model::ops::{gated, rms_norm, to_f16_bits, Activation, Rope, RopeStyle};
use hearth::model::weight::{matmul, Activations, Weight};
use std::path::{Path, PathBuf};

fn load(dir: &Path, name: &str) -> Vec<f32> {
    let b =
        std::fs::read(dir.join(format!("{name}.f32"))).unwrap_or_else(|e| panic!("{name}: {e}"));
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn report(what: &str, ours: &[f32], theirs: &[f32]) {
    let n = ours.len().min(theirs.len());
    let mut max = 0f32;
    let mut diff = 0;
    for i in 0..n {
        if ours[i].to_bits() != theirs[i].to_bits() {
            diff += 1;
            max = max.max((ours[i] - theirs[i]).abs());
        }
    }
    println!("{what:<28} {diff:>7}/{n:<7} differ, max |Δ| {max:e}");
}

fn mm(f: &GgufFile, name: &str, x: &[f32], n: usize) -> Vec<f32> {
    let t = f.tensor(name).unwrap();
    let w = Weight::from_tensor(t);
    let mut a = Activations::default();
    a.quantize(w.ty.dot_type(), x, n, w.cols);
    let mut out = vec![0f32; n * w.rows];
    matmul(&w, &a, &mut out);
    out
}

fn vector(f: &GgufFile, name: &str) -> Vec<f32> {
    let t = f.tensor(name).unwrap();
    let mut v = vec![0f32; t.n_elements() as usize];
    hearth::quant::dequantize_row(t.ty, &t.data, &mut v);
    v
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
        load(&dir, "embd")
    } else {
        load(&dir, &format!("l_out-{}", il - 1))
    };
    let n = input.len() / d;

    // RMS norm, then the weight.
    let mut ours = input.clone();
    let ones = vec![1f32; d];
    ours.chunks_mut(d).for_each(|r| rms_norm(r, &ones, 1e-5));
    report("norm", &ours, &load(&dir, &l("norm")));
    let mut ours = input.clone();
    let g = vector(&f, &w("attn_norm"));
    ours.chunks_mut(d).for_each(|r| rms_norm(r, &g, 1e-5));
    report("attn_norm", &ours, &load(&dir, &l("attn_norm")));

    let xn = load(&dir, &l("attn_norm"));
    report(
        "Qcur",
        &mm(&f, &w("attn_q"), &xn, n),
        &load(&dir, &l("Qcur")),
    );
    report(
        "Kcur",
        &mm(&f, &w("attn_k"), &xn, n),
        &load(&dir, &l("Kcur")),
    );
    report(
        "Vcur",
        &mm(&f, &w("attn_v"), &xn, n),
        &load(&dir, &l("Vcur")),
    );

    let rope = Rope {
        style: RopeStyle::Interleaved,
        dims: hd,
        freq_base: 100000.0,
        freq_scale: 1.0,
    };
    let mut q = load(&dir, &l("Qcur"));
    let mut k = load(&dir, &l("Kcur"));
    let mut table = Vec::new();
    for t in 0..n {
        rope.table(n_past + t, &mut table);
        rope.apply(&mut q[t * d..(t + 1) * d], hd, &table);
        rope.apply(&mut k[t * nkv * hd..(t + 1) * nkv * hd], hd, &table);
    }
    report("Qcur roped", &q, &load(&dir, &format!("{}#2", l("Qcur"))));
    report("Kcur roped", &k, &load(&dir, &format!("{}#2", l("Kcur"))));

    // Attention with llama.cpp's roped q and k (only the batch's own positions when n_past = 0).
    if n_past == 0 {
        let q = load(&dir, &format!("{}#2", l("Qcur")));
        let k = load(&dir, &format!("{}#2", l("Kcur")));
        let v = load(&dir, &l("Vcur"));
        let mut kb = vec![0u16; k.len()];
        let mut vb = vec![0u16; v.len()];
        to_f16_bits(&k, &mut kb);
        to_f16_bits(&v, &mut vb);
        let shape = AttnShape {
            n_head: nh,
            n_head_kv: nkv,
            head_dim: hd,
            scale: 1.0 / (hd as f32).sqrt(),
            window: None,
            softcap: None,
        };
        let view = KvView {
            k: &kb,
            v: &vb,
            capacity: n,
        };
        let mut att = vec![0f32; n * d];
        attention(shape, &q, &view, 0, n, &mut att);
        report("kqv_out", &att, &load(&dir, &l("kqv_out")));
    }

    let kqv = load(&dir, &l("kqv_out"));
    report(
        "attn_out",
        &mm(&f, &w("attn_output"), &kqv, n),
        &load(&dir, &l("attn_out")),
    );
    let ffn_inp = load(&dir, &l("ffn_inp"));
    let mut ours = ffn_inp.clone();
    let g = vector(&f, &w("ffn_norm"));
    ours.chunks_mut(d).for_each(|r| rms_norm(r, &g, 1e-5));
    report("ffn_norm", &ours, &load(&dir, &l("ffn_norm")));
    let xn = load(&dir, &l("ffn_norm"));
    report(
        "ffn_gate",
        &mm(&f, &w("ffn_gate"), &xn, n),
        &load(&dir, &l("ffn_gate")),
    );
    report(
        "ffn_up",
        &mm(&f, &w("ffn_up"), &xn, n),
        &load(&dir, &l("ffn_up")),
    );
    let mut gate = load(&dir, &l("ffn_gate"));
    gated(Activation::Silu, &mut gate, &load(&dir, &l("ffn_up")), 1536);
    report("ffn_swiglu", &gate, &load(&dir, &l("ffn_swiglu")));
    let sw = load(&dir, &l("ffn_swiglu"));
    report(
        "ffn_out",
        &mm(&f, &w("ffn_down"), &sw, n),
        &load(&dir, &l("ffn_out")),
    );
    if dir.join("result_norm.f32").exists() {
        let rn = load(&dir, "result_norm");
        report(
            "result_output",
            &mm(&f, "token_embd.weight", &rn, 1),
            &load(&dir, "result_output"),
        );
    }
}
