//! The chat engine on SmolLM2: each turn evaluates only the new tokens (KV cache reuse), a
//! conversation that outgrows the context is shifted instead of failing, and the engine
//! thread reports session commands as not available yet.

mod common;

use hearth::context::ContextParams;
use hearth::engine::chat::{ChatEngine, Control};
use hearth::engine::protocol::{Command, Event, StopReason};
use hearth::engine::thread::{EngineConfig, EngineHandle};
use hearth::sampling::SamplerSettings;
use hearth::tokenizer::Message;

fn engine(n_ctx: usize) -> ChatEngine {
    ChatEngine::load(
        &common::model(common::SMOLLM2),
        ContextParams {
            n_ctx,
            ..Default::default()
        },
        SamplerSettings {
            temp: 0.0,
            ignore_eos: true,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Generates up to `n` tokens; returns the reply text, stats and the events.
fn reply(e: &mut ChatEngine, msgs: &[Message], n: usize) -> (String, usize, Vec<Event>) {
    let mut text = String::new();
    let mut events = Vec::new();
    let mut left = n;
    let (stats, stop) = e
        .generate(
            msgs,
            &mut |ev| {
                if let Event::Token { text: t, .. } = &ev {
                    text.push_str(t);
                }
                events.push(ev);
            },
            &mut |_| {
                if left == 0 {
                    Control::Stop
                } else {
                    left -= 1;
                    Control::Continue
                }
            },
        )
        .unwrap();
    assert_eq!(stop, StopReason::Cancelled);
    assert_eq!(stats.gen_tokens, n);
    (text, stats.prompt_tokens, events)
}

#[test]
fn each_turn_evaluates_only_new_tokens() {
    let mut e = engine(2048);
    let mut msgs = vec![
        Message::system("You are brief."),
        Message::user("What is the capital of France?"),
    ];
    let first = e.prompt_tokens(&msgs, true).unwrap();
    let (a1, evaluated1, _) = reply(&mut e, &msgs, 12);
    assert_eq!(evaluated1, first.len());
    msgs.push(Message::assistant(a1));
    msgs.push(Message::user("And of Italy?"));
    let second = e.prompt_tokens(&msgs, true).unwrap();
    let (_, evaluated2, _) = reply(&mut e, &msgs, 4);
    assert!(
        evaluated2 < second.len() - first.len() + 8,
        "second turn evaluated {evaluated2} of {} tokens",
        second.len()
    );
    // The cache holds exactly the conversation plus the reply so far.
    assert_eq!(&e.ctx.tokens()[..second.len()], &second[..]);
}

#[test]
fn conversations_longer_than_the_context_are_shifted() {
    let mut e = engine(256);
    let mut msgs = vec![Message::system("Sys.")];
    let mut shifted = false;
    for i in 0..8 {
        msgs.push(Message::user(format!(
            "Tell me fact number {i} about the sea."
        )));
        let (a, _, events) = reply(&mut e, &msgs, 40);
        shifted |= events
            .iter()
            .any(|e| matches!(e, Event::ContextShift { .. }));
        msgs.push(Message::assistant(a));
        assert!(e.ctx.n_past() <= 256);
    }
    assert!(shifted, "the context should have been shifted");
}

#[test]
fn engine_thread_streams_cancels_and_saves_sessions() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let h = EngineHandle::spawn(
        EngineConfig {
            model: common::model(common::SMOLLM2),
            params: ContextParams {
                n_ctx: 1024,
                ..Default::default()
            },
            settings: SamplerSettings {
                ignore_eos: true,
                seed: 1,
                ..Default::default()
            },
        },
        tx,
    )
    .unwrap();
    assert!(matches!(rx.blocking_recv(), Some(Event::Loaded { .. })));
    h.send(Command::Generate {
        messages: vec![Message::user("Count to one hundred.")],
    });
    let mut tokens = 0;
    loop {
        match rx.blocking_recv().unwrap() {
            Event::Token { .. } => {
                tokens += 1;
                if tokens == 5 {
                    // A live sampler change, then a cancel.
                    h.send(Command::UpdateSampler(SamplerSettings {
                        temp: 0.0,
                        ignore_eos: true,
                        ..Default::default()
                    }));
                    h.send(Command::Cancel);
                }
            }
            Event::Done { stop, .. } => {
                assert_eq!(stop, StopReason::Cancelled);
                break;
            }
            Event::Error(e) => panic!("{e}"),
            _ => {}
        }
    }
    assert!(
        tokens < 20,
        "cancel takes effect at the next token ({tokens})"
    );
    // Sessions are saved into $HEARTH_DATA_DIR (a temporary one here).
    let data = std::env::temp_dir().join(format!("hearth-engine-test-{}", std::process::id()));
    std::env::set_var("HEARTH_DATA_DIR", &data);
    h.send(Command::SaveSession {
        name: "x".into(),
        transcript: vec![],
        overwrite: true,
    });
    loop {
        match rx.blocking_recv().unwrap() {
            Event::SessionSaved { name } => {
                assert_eq!(name, "x");
                assert!(data.join("sessions").join("x.hsession").is_file());
                let _ = std::fs::remove_dir_all(&data);
                break;
            }
            Event::Token { .. } | Event::Done { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    h.shutdown();
}
