//! The llama architecture (llama, mistral, smollm, …): RMSNorm, RoPE on adjacent pairs,
//! grouped-query attention, SwiGLU feed-forward, optionally tied output weights.

use super::attention::AttnShape;
use super::blocks::{add_residual, attend, gated_ffn, norm_input, project_qkv, rotate_qk};
use super::ops::{Activation, Rope, RopeStyle};
use super::weight::{load_embeddings, load_vector, Weight};
use super::{Architecture, ForwardParams, HParams, LayerCacheSpec, Outputs};
use crate::context::{KvCache, Scratch};
use crate::gguf::GgufFile;
use anyhow::Result;

struct Layer {
    attn_norm: Vec<f32>,
    wq: Weight,
    wk: Weight,
    wv: Weight,
    wo: Weight,
    ffn_norm: Vec<f32>,
    w_gate: Weight,
    w_up: Weight,
    w_down: Weight,
}

pub struct Llama {
    hp: HParams,
    tok_embd: Weight,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    output: Weight,
}

impl Llama {
    pub fn load(f: &GgufFile, hp: HParams) -> Result<Llama> {
        let (d, ff, qd, kvd) = (hp.n_embd, hp.n_ff, hp.q_dim(), hp.kv_dim());
        let (tok_embd, output) = load_embeddings(f, d, hp.n_vocab)?;
        let layers = (0..hp.n_layer)
            .map(|i| {
                let n = |s: &str| format!("blk.{i}.{s}.weight");
                Ok(Layer {
                    attn_norm: load_vector(f, &n("attn_norm"), d)?,
                    wq: Weight::load(f, &n("attn_q"), d, qd)?,
                    wk: Weight::load(f, &n("attn_k"), d, kvd)?,
                    wv: Weight::load(f, &n("attn_v"), d, kvd)?,
                    wo: Weight::load(f, &n("attn_output"), qd, d)?,
                    ffn_norm: load_vector(f, &n("ffn_norm"), d)?,
                    w_gate: Weight::load(f, &n("ffn_gate"), d, ff)?,
                    w_up: Weight::load(f, &n("ffn_up"), d, ff)?,
                    w_down: Weight::load(f, &n("ffn_down"), ff, d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Llama {
            output_norm: load_vector(f, "output_norm.weight", d)?,
            tok_embd,
            layers,
            output,
            hp,
        })
    }
}

impl Architecture for Llama {
    fn hparams(&self) -> &HParams {
        &self.hp
    }

    fn cache_spec(&self) -> Vec<LayerCacheSpec> {
        vec![
            LayerCacheSpec {
                kv_dim: self.hp.kv_dim(),
                window: None
            };
            self.hp.n_layer
        ]
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
        s.prepare(n, d, qd, kvd, ff);
        s.embed(&self.tok_embd, tokens, d)?;
        let rope = Rope {
            style: RopeStyle::Interleaved,
            dims: hp.rope_dims,
            freq_base: params.rope_freq_base,
            freq_scale: params.rope_freq_scale,
        };
        s.rope_tables(&rope, start, n);
        let tables = std::mem::take(&mut s.rope);
        let shape = AttnShape {
            n_head: hp.n_head,
            n_head_kv: hp.n_head_kv,
            head_dim: hd,
            scale: 1.0 / (hd as f32).sqrt(),
            window: None,
            softcap: None,
        };

        for (il, l) in self.layers.iter().enumerate() {
            norm_input(s, &l.attn_norm, hp.norm_eps, d);
            project_qkv(s, &l.wq, &l.wk, &l.wv, n, d);
            rotate_qk(s, &rope, &tables, hd);
            attend(s, cache, il, shape, &l.wo, start, n);
            add_residual(s);

            norm_input(s, &l.ffn_norm, hp.norm_eps, d);
            gated_ffn(s, &l.w_gate, &l.w_up, &l.w_down, Activation::Silu, n, d, ff);
            add_residual(s);
        }

        s.rope = tables;
        s.output(
            &self.output,
            &self.output_norm,
            hp.norm_eps,
            n,
            d,
            outputs,
            logits,
        );
        Ok(())
    }
}
