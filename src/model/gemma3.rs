//! Gemma 3: scaled embeddings, per-head query/key RMSNorm, post-attention and post-feed-forward
//! norms, GELU-gated feed-forward, and sliding-window layers interleaved with global ones, each
//! kind with its own RoPE base.

use super::attention::AttnShape;
use super::blocks::{
    add_residual, attend, gated_ffn, norm_input, norm_rows, project_qkv, rotate_qk,
};
use super::ops::{Activation, Rope, RopeStyle};
use super::weight::{load_embeddings, load_vector, Weight};
use super::{Architecture, ForwardParams, HParams, LayerCacheSpec, Outputs};
use crate::context::{KvCache, Scratch};
use crate::gguf::GgufFile;
use anyhow::{bail, Result};

struct Layer {
    attn_norm: Vec<f32>,
    wq: Weight,
    wk: Weight,
    wv: Weight,
    q_norm: Vec<f32>,
    k_norm: Vec<f32>,
    wo: Weight,
    post_attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    w_gate: Weight,
    w_up: Weight,
    w_down: Weight,
    post_ffn_norm: Vec<f32>,
    /// Sliding-window (local) layer.
    local: bool,
}

pub struct Gemma3 {
    hp: HParams,
    /// Attention window of the local layers.
    window: usize,
    /// RoPE base of the local layers (the global ones use `hp.rope_freq_base`).
    local_rope_base: f32,
    attn_scale: f32,
    tok_embd: Weight,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    output: Weight,
}

impl Gemma3 {
    pub fn load(f: &GgufFile, hp: HParams) -> Result<Gemma3> {
        let arch = hp.arch.clone();
        let key = |k: &str| format!("{arch}.{k}");
        let window = f.get_u64(&key("attention.sliding_window"))?.unwrap_or(512) as usize;
        if window == 0 {
            bail!("{} must be positive", key("attention.sliding_window"));
        }
        // Every `pattern`-th layer is global; llama.cpp's default for Gemma 3 is 6.
        let pattern = f
            .get_u64(&key("attention.sliding_window_pattern"))?
            .unwrap_or(6)
            .max(1) as usize;
        let local_rope_base = f.get_f64(&key("rope.freq_base_swa"))?.unwrap_or(10_000.0) as f32;
        let attn_scale = match f.get_f64(&key("attention.query_pre_attn_scalar"))? {
            Some(s) if s > 0.0 => 1.0 / (s as f32).sqrt(),
            _ => 1.0 / (hp.head_dim as f32).sqrt(),
        };
        let (d, ff, qd, kvd, hd) = (hp.n_embd, hp.n_ff, hp.q_dim(), hp.kv_dim(), hp.head_dim);
        let (tok_embd, output) = load_embeddings(f, d, hp.n_vocab)?;
        let layers = (0..hp.n_layer)
            .map(|i| {
                let n = |s: &str| format!("blk.{i}.{s}.weight");
                Ok(Layer {
                    attn_norm: load_vector(f, &n("attn_norm"), d)?,
                    wq: Weight::load(f, &n("attn_q"), d, qd)?,
                    wk: Weight::load(f, &n("attn_k"), d, kvd)?,
                    wv: Weight::load(f, &n("attn_v"), d, kvd)?,
                    q_norm: load_vector(f, &n("attn_q_norm"), hd)?,
                    k_norm: load_vector(f, &n("attn_k_norm"), hd)?,
                    wo: Weight::load(f, &n("attn_output"), qd, d)?,
                    post_attn_norm: load_vector(f, &n("post_attention_norm"), d)?,
                    ffn_norm: load_vector(f, &n("ffn_norm"), d)?,
                    w_gate: Weight::load(f, &n("ffn_gate"), d, ff)?,
                    w_up: Weight::load(f, &n("ffn_up"), d, ff)?,
                    w_down: Weight::load(f, &n("ffn_down"), ff, d)?,
                    post_ffn_norm: load_vector(f, &n("post_ffw_norm"), d)?,
                    local: (i + 1) % pattern != 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Gemma3 {
            output_norm: load_vector(f, "output_norm.weight", d)?,
            window,
            local_rope_base,
            attn_scale,
            tok_embd,
            layers,
            output,
            hp,
        })
    }
}

impl Architecture for Gemma3 {
    fn hparams(&self) -> &HParams {
        &self.hp
    }

    fn cache_spec(&self) -> Vec<LayerCacheSpec> {
        self.layers
            .iter()
            .map(|l| LayerCacheSpec {
                kv_dim: self.hp.kv_dim(),
                window: l.local.then_some(self.window),
            })
            .collect()
    }

    fn forward(
        &self,
        params: &ForwardParams,
        tokens: &[u32],
        start: usize,
        cache: &mut KvCache,
        s: &mut Scratch,
        outputs: Outputs,
        logits: &mut Vec<f32>,
    ) -> Result<()> {
        let hp = &self.hp;
        let n = tokens.len();
        let (d, ff, qd, kvd, hd) = (hp.n_embd, hp.n_ff, hp.q_dim(), hp.kv_dim(), hp.head_dim);
        let eps = hp.norm_eps;
        s.prepare(n, d, qd, kvd, ff);
        s.embed(&self.tok_embd, tokens, d)?;
        let scale = (d as f32).sqrt();
        s.x.iter_mut().for_each(|v| *v *= scale);

        // The user's RoPE settings apply to the global layers; local layers keep their own base.
        let global = Rope {
            style: RopeStyle::Halves,
            dims: hp.rope_dims,
            freq_base: params.rope_freq_base,
            freq_scale: params.rope_freq_scale,
        };
        let local = Rope {
            freq_base: self.local_rope_base,
            freq_scale: 1.0,
            ..global
        };
        let mut tables = [Vec::new(), Vec::new()];
        for (table, rope) in tables.iter_mut().zip([&local, &global]) {
            s.rope_tables(rope, start, n);
            *table = std::mem::take(&mut s.rope);
        }

        // Rows still carried through the layers (see the last layer).
        let mut rows = n;
        for (il, l) in self.layers.iter().enumerate() {
            let (rope, table) = if l.local {
                (&local, &tables[0])
            } else {
                (&global, &tables[1])
            };
            let shape = AttnShape {
                n_head: hp.n_head,
                n_head_kv: hp.n_head_kv,
                head_dim: hd,
                // The queries are scaled before the f16 attention product, as in llama.cpp.
                scale: 1.0,
                window: l.local.then_some(self.window),
                softcap: None,
            };

            norm_input(s, &l.attn_norm, eps, d);
            project_qkv(s, &l.wq, &l.wk, &l.wv, n, d);
            norm_rows(&mut s.q, &l.q_norm, eps, hd);
            norm_rows(&mut s.k, &l.k_norm, eps, hd);
            rotate_qk(s, rope, table, hd);
            s.q[..n * qd].iter_mut().for_each(|v| *v *= self.attn_scale);
            attend(s, cache, il, shape, &l.wo, start, n);
            if il + 1 == self.layers.len() && outputs == Outputs::Last && rows > 1 {
                // llama.cpp drops the rows it will not output right after the last layer's
                // attention, so that layer's feed-forward runs on one token (and through the
                // one-token kernels, whose rounding differs).
                let skip = (rows - 1) * d;
                s.x.drain(..skip);
                s.o.drain(..skip);
                s.xn.truncate(d);
                s.gate.truncate(ff);
                s.up.truncate(ff);
                rows = 1;
            }
            norm_rows(&mut s.o, &l.post_attn_norm, eps, d);
            add_residual(s);

            norm_input(s, &l.ffn_norm, eps, d);
            gated_ffn(
                s,
                &l.w_gate,
                &l.w_up,
                &l.w_down,
                Activation::Gelu,
                rows,
                d,
                ff,
            );
            norm_rows(&mut s.o, &l.post_ffn_norm, eps, d);
            add_residual(s);
        }

        s.output(
            &self.output,
            &self.output_norm,
            eps,
            rows,
            d,
            outputs,
            logits,
        );
        Ok(())
    }
}
