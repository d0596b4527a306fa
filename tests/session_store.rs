//! Named sessions: list, save, load, rename, delete; atomic saves that survive a full disk;
//! the data directory; the example file documented in sessions/FORMAT.md.

mod session_common;

use hearth::context::Context;
use hearth::model::{Model, Outputs};
use hearth::session::{
    self, DiskFullAfter, SessionData, SessionError, SessionStore, Transcript, EXTENSION,
};
use session_common::*;
use std::path::Path;

fn ctx_with(model: &Model, toks: &[u32]) -> Context {
    let mut c = Context::new(model, params(64)).unwrap();
    c.eval(model, toks, Outputs::Last, |_, _| {}).unwrap();
    c
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn list_save_load_rename_delete() {
    let model = tiny_model(0);
    let tok = tiny_tokenizer(&model);
    let dir = scratch("store");
    let store = SessionStore::at(dir.join("sessions"));
    assert!(
        store.list().unwrap().is_empty(),
        "a missing directory lists as empty"
    );

    let a = ctx_with(&model, &[1, 4, 5]);
    let b = ctx_with(&model, &[1, 8, 9, 10, 11]);
    let tr = transcript();
    let mut da = SessionData::new(&model, &a, &tr);
    da.saved_ms = Some(1_000);
    let mut db = SessionData::new(&model, &b, &tr);
    db.saved_ms = Some(2_000);
    store.save("first chat", &da, false).unwrap();
    store.save("second", &db, false).unwrap();

    // Nothing is overwritten silently.
    let e = store.save("second", &da, false).err().unwrap();
    assert!(matches!(e, SessionError::AlreadyExists { .. }), "{e}");
    assert_eq!(store.header("second").unwrap().n_tokens, 5);

    let list = store.list().unwrap();
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["second", "first chat"], "newest first");
    assert_eq!(list[0].model_name(), Some("tiny-example"));
    assert_eq!(list[0].n_tokens(), Some(5));
    assert_eq!(list[0].saved_ms(), Some(2_000));
    assert_eq!(
        list[0].size,
        std::fs::metadata(&list[0].path).unwrap().len()
    );
    assert_eq!(list[0].header.as_ref().unwrap().preview, "Name a colour.");

    // A damaged file is listed with its problem; temp files and other files are not listed.
    std::fs::write(store.dir().join(format!("broken.{EXTENSION}")), b"HRTHSE").unwrap();
    std::fs::write(store.dir().join(format!(".tmp-x.{EXTENSION}")), b"junk").unwrap();
    std::fs::write(store.dir().join("notes.txt"), b"junk").unwrap();
    let list = store.list().unwrap();
    assert_eq!(list.len(), 3);
    let broken = list.iter().find(|s| s.name == "broken").unwrap();
    assert!(matches!(broken.header, Err(SessionError::Truncated { .. })));

    // Overwrite when asked; load restores it.
    store.save("second", &da, true).unwrap();
    let r = store.load("second", &model, &tok, &params(64)).unwrap();
    assert_eq!(r.context.tokens(), [1, 4, 5]);
    assert_eq!(r.transcript, tr);

    // Rename refuses to replace, then works; delete.
    let e = store.rename("second", "first chat").err().unwrap();
    assert!(matches!(e, SessionError::AlreadyExists { .. }), "{e}");
    store.rename("second", "renamed").unwrap();
    assert!(!store.exists("second").unwrap());
    assert_eq!(store.header("renamed").unwrap().n_tokens, 3);
    let e = store.rename("nope", "x").err().unwrap();
    assert!(matches!(e, SessionError::NotFound { .. }), "{e}");
    store.delete("renamed").unwrap();
    let e = store.delete("renamed").err().unwrap();
    assert!(matches!(e, SessionError::NotFound { .. }), "{e}");
    let e = store
        .load("renamed", &model, &tok, &params(64))
        .err()
        .unwrap();
    assert!(matches!(e, SessionError::NotFound { .. }), "{e}");

    for bad in ["", "../escape", "a/b", ".hidden", "tab\there", " lead"] {
        let e = store.save(bad, &da, false).err().unwrap();
        assert!(
            matches!(e, SessionError::InvalidName { .. }),
            "{bad:?}: {e}"
        );
    }
}

#[test]
fn data_dir_follows_the_environment() {
    let dir = scratch("datadir");
    // The only test of this binary that touches the environment.
    std::env::set_var(session::DATA_DIR_ENV, &dir);
    let store = SessionStore::open_default().unwrap();
    assert_eq!(store.dir(), dir.join("sessions"));
    std::env::remove_var(session::DATA_DIR_ENV);
    let store = SessionStore::open_default().unwrap();
    assert!(store.dir().ends_with("sessions"));
}

#[test]
fn a_failing_save_leaves_the_previous_file_intact() {
    let model = tiny_model(0);
    let dir = scratch("atomic");
    let store = SessionStore::at(&dir);
    let tr = transcript();
    let old_ctx = ctx_with(&model, &[1, 4, 5]);
    store
        .save("chat", &SessionData::new(&model, &old_ctx, &tr), false)
        .unwrap();
    let path = store.path_of("chat").unwrap();
    let old = std::fs::read(&path).unwrap();

    let new_ctx = ctx_with(&model, &[1, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let new_data = SessionData::new(&model, &new_ctx, &tr);
    let mut full = Vec::new();
    session::write_session(&mut full, &new_data).unwrap();
    let n = full.len() as u64;
    for limit in [0, 1, 15, 16, 17, 100, n / 2, n - 9, n - 1] {
        let mut wrap = DiskFullAfter(limit);
        let e = store
            .save_with("chat", &new_data, true, &mut wrap)
            .err()
            .unwrap_or_else(|| panic!("limit {limit}: saved"));
        assert!(
            matches!(
                e,
                SessionError::SaveFailed {
                    previous_intact: true,
                    ..
                }
            ),
            "{limit}: {e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("previous version of the file is intact"),
            "{msg}"
        );
        assert!(msg.to_lowercase().contains("no space left"), "{msg}");
        assert_eq!(std::fs::read(&path).unwrap(), old, "limit {limit}");
        assert_eq!(
            files(&dir),
            [format!("chat.{EXTENSION}")],
            "no temp file left"
        );
    }
    // A first save that fails leaves nothing behind.
    let mut wrap = DiskFullAfter(50);
    let e = store
        .save_with("fresh", &new_data, false, &mut wrap)
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            SessionError::SaveFailed {
                previous_intact: false,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("no file was written"), "{e}");
    assert_eq!(files(&dir), [format!("chat.{EXTENSION}")]);
    // Exactly enough room succeeds.
    let mut wrap = DiskFullAfter(n);
    store.save_with("chat", &new_data, true, &mut wrap).unwrap();
    assert_eq!(std::fs::read(&path).unwrap().len() as u64, n);
    assert_eq!(session::read_header(&path).unwrap().n_tokens, 10);
}

/// `sessions/example.hsession`, the file FORMAT.md walks through: a 6-token conversation of the
/// tiny test model. Written when missing or with HEARTH_WRITE_EXAMPLE=1; otherwise the checked-in
/// file is read back, which keeps version-1 files readable.
#[test]
fn example_file() {
    let model = tiny_model(0);
    let tok = tiny_tokenizer(&model);
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sessions/example.hsession");
    let toks = [1, 3, 17, 42, 8, 30];
    if !path.exists() || std::env::var_os("HEARTH_WRITE_EXAMPLE").is_some() {
        let mut ctx = Context::new(&model, params(16)).unwrap();
        ctx.eval(&model, &toks, Outputs::Last, |_, _| {}).unwrap();
        let tr = Transcript {
            system_prompt: Some("Be brief.".into()),
            messages: vec![
                hearth::session::TranscriptMessage {
                    role: "user".into(),
                    content: "Hi".into(),
                    time_ms: 1_735_689_600_000,
                },
                hearth::session::TranscriptMessage {
                    role: "assistant".into(),
                    content: "Hello!".into(),
                    time_ms: 1_735_689_601_000,
                },
            ],
        };
        let settings = hearth::sampling::SamplerSettings {
            seed: 42,
            ..Default::default()
        };
        let sampler = hearth::sampling::Sampler::new(settings, TINY_VOCAB, &[2], None).unwrap();
        let mut d = SessionData::new(&model, &ctx, &tr);
        d.sampler = Some(&sampler);
        d.created_ms = Some(1_735_689_600_000);
        d.saved_ms = Some(1_735_689_601_000);
        session::save_to_path(&path, &d).unwrap();
    }
    let s = session::read_session(&path, true).unwrap();
    assert_eq!(s.header.version, 1);
    assert_eq!(s.header.model_name, "tiny-example");
    assert_eq!(s.context.tokens, toks);
    assert_eq!(s.transcript.messages.len(), 2);
    let r = s.restore(&model, &tok, &params(16)).unwrap();
    assert_eq!(r.context.tokens(), toks);
    assert_eq!(r.generator.unwrap().sampler.settings().seed, 42);
    assert!(std::fs::metadata(&path).unwrap().len() < 4096);
}
