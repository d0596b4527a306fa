//! Responsiveness: a keypress shows on screen within one frame (≤ 50 ms) while a reply
//! streams from the real engine, and drawing a frame of a 500-message transcript takes < 5 ms.

mod common;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use futures_util::Stream;
use hearth::context::ContextParams;
use hearth::engine::protocol::{Event, GenStats, ModelInfo, StopReason};
use hearth::engine::thread::{EngineConfig, EngineHandle};
use hearth::sampling::SamplerSettings;
use hearth::tui::action::Action;
use hearth::tui::app::{App, AppOptions, Effect};
use hearth::tui::{event_loop, ui};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

struct Keys(mpsc::UnboundedReceiver<std::io::Result<TermEvent>>);

impl Stream for Keys {
    type Item = std::io::Result<TermEvent>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

fn key(c: KeyCode, m: KeyModifiers) -> std::io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(c, m)))
}

#[derive(Default)]
struct Frames {
    status: String,
    input: String,
    at: Option<Instant>,
}

#[test]
fn keypress_shows_within_one_frame_while_streaming() {
    let model = common::model(common::SMOLLM2);
    let (etx, erx) = mpsc::unbounded_channel();
    let engine = EngineHandle::spawn(
        EngineConfig {
            model,
            params: ContextParams {
                n_ctx: 2048,
                ..Default::default()
            },
            settings: SamplerSettings {
                ignore_eos: true,
                seed: 3,
                ..Default::default()
            },
        },
        etx,
    )
    .unwrap();
    let (ktx, krx) = mpsc::unbounded_channel();
    let mut app = App::new(AppOptions {
        size: (100, 30),
        ..Default::default()
    });
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let frames = Rc::new(RefCell::new(Frames::default()));
    let f2 = frames.clone();
    let on_frame = move |t: &Terminal<TestBackend>, app: &App| {
        let buf = t.backend().buffer();
        let row =
            |y: u16| -> String { (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect() };
        let mut f = f2.borrow_mut();
        f.status = row(app.areas().status.y);
        f.input = row(app.areas().input.y + 1);
        f.at = Some(Instant::now());
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut side = |_e: Effect| -> Option<String> { None };
    let latencies = rt.block_on(async {
        let driver = async {
            let fr = frames.clone();
            let wait = move |pred: Box<dyn Fn(&Frames) -> bool>, secs: u64| {
                let frames = fr.clone();
                async move {
                    let t0 = Instant::now();
                    while !pred(&frames.borrow()) {
                        assert!(t0.elapsed() < Duration::from_secs(secs), "timed out");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            };
            wait(Box::new(|f: &Frames| f.status.contains("idle")), 60).await;
            for c in "Tell me a story.".chars() {
                ktx.send(key(KeyCode::Char(c), KeyModifiers::NONE)).unwrap();
            }
            ktx.send(key(KeyCode::Enter, KeyModifiers::NONE)).unwrap();
            wait(Box::new(|f: &Frames| f.status.contains("generating")), 60).await;
            let mut lat = Vec::new();
            for (i, c) in "ZQXJV".chars().enumerate() {
                tokio::time::sleep(Duration::from_millis(120)).await;
                let t0 = Instant::now();
                ktx.send(key(KeyCode::Char(c), KeyModifiers::NONE)).unwrap();
                let want: String = "ZQXJV".chars().take(i + 1).collect();
                wait(Box::new(move |f: &Frames| f.input.contains(&want)), 5).await;
                let shown = frames.borrow().at.unwrap();
                assert!(
                    frames.borrow().status.contains("generating"),
                    "still streaming"
                );
                lat.push(shown.duration_since(t0));
            }
            ktx.send(key(KeyCode::Esc, KeyModifiers::NONE)).unwrap();
            wait(Box::new(|f: &Frames| f.status.contains("idle")), 20).await;
            ktx.send(key(KeyCode::Char('c'), KeyModifiers::CONTROL))
                .unwrap();
            lat
        };
        let (lat, r) = tokio::join!(
            driver,
            event_loop(
                &mut terminal,
                &mut app,
                Keys(krx),
                &engine,
                erx,
                &mut side,
                on_frame
            )
        );
        r.unwrap();
        lat
    });
    assert!(app.quit);
    engine.shutdown();
    eprintln!("keypress → frame latencies: {latencies:?}");
    for l in &latencies {
        assert!(*l <= Duration::from_millis(50), "{latencies:?}");
    }
}

#[test]
fn drawing_a_500_message_transcript_takes_under_5_ms() {
    let mut app = App::new(AppOptions {
        size: (120, 40),
        ..Default::default()
    });
    app.apply(Action::Engine(Event::Loaded {
        info: ModelInfo {
            name: "m".into(),
            quant: "Q4_1".into(),
            n_ctx_train: 8192,
            rope_freq_base: 1e4,
            rope_freq_scale: 1.0,
            builtin_template: false,
        },
        n_ctx: 4096,
    }));
    let t_build = Instant::now();
    for i in 0..250 {
        for c in format!("question {i}: how does this work?").chars() {
            app.apply(Action::Insert(c));
        }
        app.apply(Action::Bound(hearth::tui::action::Bound::Send));
        app.apply(Action::Engine(Event::Token {
            text: format!(
                "## Answer {i}\n\nSome **bold** text and a list:\n\n- one\n- two\n\n```rust\nfn f{i}() -> u32 {{ {i} }}\n```\n\nA long paragraph that will need wrapping because it goes on and on for a while, past the width of the terminal."
            ),
            n_past: 10,
        }));
        app.apply(Action::Engine(Event::Done {
            stats: GenStats::default(),
            stop: StopReason::EndOfGeneration,
            n_past: 10,
        }));
    }
    eprintln!("built 500 messages in {:?}", t_build.elapsed());
    assert_eq!(app.entries.len(), 500);
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut times = Vec::new();
    for i in 0..50 {
        // Scroll around so that different parts are drawn.
        app.scroll = (i * 97) % app.total_lines().max(1);
        let t0 = Instant::now();
        t.draw(|f| ui::draw(f, &app)).unwrap();
        times.push(t0.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "frame times: median {median:?}, max {:?}",
        times.last().unwrap()
    );
    assert!(median < Duration::from_millis(5), "median frame {median:?}");
    // A resize re-wraps every message once (cached afterwards).
    let t0 = Instant::now();
    app.apply(Action::Resize(100, 40));
    eprintln!("re-wrap of 500 messages: {:?}", t0.elapsed());
}
