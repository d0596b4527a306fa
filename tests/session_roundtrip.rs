//! Save and restore give a context, sampler and guidance context that continue exactly as if
//! never interrupted; mismatched models and context parameters are refused with a reason.

mod session_common;

use hearth::context::Context;
use hearth::engine::{Generator, Guidance};
use hearth::model::{Model, Outputs};
use hearth::sampling::SamplerSettings;
use hearth::session::{self, SessionData, SessionError, SessionStore};
use hearth::tokenizer::Tokenizer;
use session_common::*;

const PROMPT: &str = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite a short poem about the sea and the wind.<|im_end|>\n<|im_start|>assistant\n";

fn sample_run(model: &Model, ctx: &mut Context, gen: &mut Generator, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let t = gen.sample(ctx);
            gen.accept(model, ctx, t).unwrap();
            t
        })
        .collect()
}

#[test]
fn greedy_context_round_trip_is_token_identical() {
    let model = smollm();
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let p = params(512);
    let mut ctx = Context::new(&model, p).unwrap();
    let prompt = tok.tokenize(PROMPT, true, true);
    ctx.eval(&model, &prompt, Outputs::Last, |_, _| {}).unwrap();
    greedy(&model, &mut ctx, 4);

    let dir = scratch("greedy");
    let store = SessionStore::at(&dir);
    let tr = transcript();
    let size = store
        .save("poem", &SessionData::new(&model, &ctx, &tr), false)
        .unwrap();
    assert_eq!(
        size,
        std::fs::metadata(store.path_of("poem").unwrap())
            .unwrap()
            .len()
    );
    let saved_logits = ctx.logits().to_vec();
    let uninterrupted = greedy(&model, &mut ctx, 16);

    let r = store.load("poem", &model, &tok, &p).unwrap();
    assert!(r.generator.is_none());
    assert_eq!(r.transcript, tr);
    assert_eq!(r.header.n_tokens, prompt.len() + 4);
    let mut restored = r.context;
    assert_eq!(
        restored.logits(),
        &saved_logits[..],
        "logits restored bit for bit"
    );
    let resumed = greedy(&model, &mut restored, 16);
    assert_eq!(uninterrupted, resumed);

    // export_kv / import_kv directly, without a file.
    let snap = ctx.export_kv();
    let mut copy = Context::new(&model, p).unwrap();
    copy.import_kv(snap).unwrap();
    assert_eq!(greedy(&model, &mut ctx, 6), greedy(&model, &mut copy, 6));
}

#[test]
fn sampler_state_and_guidance_round_trip() {
    let model = smollm();
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let p = params(256);
    let cases = [
        SamplerSettings {
            temp: 0.9,
            seed: 1234,
            repeat_penalty: 1.3,
            frequency_penalty: 0.2,
            cfg_scale: 1.5,
            cfg_negative_prompt: "Write about mountains.".into(),
            ..SamplerSettings::default()
        },
        SamplerSettings {
            mirostat: 2,
            seed: 99,
            ..SamplerSettings::default()
        },
    ];
    let prompt = tok.tokenize(PROMPT, true, true);
    for (i, settings) in cases.into_iter().enumerate() {
        let mut ctx = Context::new(&model, p).unwrap();
        ctx.eval(&model, &prompt, Outputs::Last, |_, _| {}).unwrap();
        let mut gen = Generator::new(settings.clone(), &tok, p.n_ctx).unwrap();
        if settings.cfg_scale != 1.0 {
            gen.guidance = Some(
                Guidance::new(
                    &model,
                    &tok,
                    p,
                    &settings.cfg_negative_prompt,
                    settings.cfg_scale,
                )
                .unwrap(),
            );
        }
        sample_run(&model, &mut ctx, &mut gen, 6);
        let path = scratch(&format!("sampler{i}")).join("s.hsession");
        let tr = transcript();
        session::save_to_path(
            &path,
            &SessionData::new(&model, &ctx, &tr).with_generator(&gen),
        )
        .unwrap();
        let uninterrupted = sample_run(&model, &mut ctx, &mut gen, 12);

        let header = session::read_header(&path).unwrap();
        assert_eq!(
            header.n_guidance_tokens.is_some(),
            settings.cfg_scale != 1.0,
            "case {i}"
        );
        let r = session::load(&path, &model, &tok, &p).unwrap();
        let mut gen2 = r.generator.expect("sampler saved");
        assert_eq!(gen2.sampler.settings(), &settings);
        assert_eq!(gen2.guidance.is_some(), settings.cfg_scale != 1.0);
        let mut ctx2 = r.context;
        let resumed = sample_run(&model, &mut ctx2, &mut gen2, 12);
        assert_eq!(uninterrupted, resumed, "case {i}");
    }
}

#[test]
fn mismatches_are_explained_and_transcript_still_readable() {
    let model = smollm();
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let p = params(256);
    let mut ctx = Context::new(&model, p).unwrap();
    ctx.eval(
        &model,
        &tok.tokenize("Hello there", true, true),
        Outputs::Last,
        |_, _| {},
    )
    .unwrap();
    let dir = scratch("mismatch");
    let store = SessionStore::at(&dir);
    let tr = transcript();
    store
        .save("s", &SessionData::new(&model, &ctx, &tr), false)
        .unwrap();

    let e = store.load("s", &model, &tok, &params(128)).err().unwrap();
    assert!(
        matches!(
            e,
            SessionError::ContextSizeMismatch {
                saved: 256,
                current: 128
            }
        ),
        "{e}"
    );
    assert!(e.is_mismatch() && e.to_string().contains("-c 256"), "{e}");

    let mut rp = p;
    rp.rope_freq_base = Some(20000.0);
    let e = store.load("s", &model, &tok, &rp).err().unwrap();
    assert!(matches!(e, SessionError::RopeMismatch { .. }), "{e}");

    let tiny = tiny_model(0);
    let e = store
        .load("s", &tiny, &tiny_tokenizer(&tiny), &p)
        .err()
        .unwrap();
    assert!(matches!(e, SessionError::ModelMismatch { .. }), "{e}");
    assert!(e.to_string().to_lowercase().contains("smollm2"), "{e}");

    // The chat can still offer to re-evaluate the transcript.
    let s = store.read_transcript("s").unwrap();
    assert_eq!(s.transcript, tr);
    assert!(s.context.layers.is_none());
    assert_eq!(s.context.tokens, ctx.tokens());
}
