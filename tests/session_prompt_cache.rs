//! `hearth generate --prompt-cache`: the output with a cache (created, fully reused, partly
//! reused, with generated tokens, read-only, damaged, from another context size) is the
//! output without one.

mod session_common;

use session_common::*;
use std::path::Path;
use std::process::Command;

const PROMPT: &str =
    "<|im_start|>user\nList three facts about owls.<|im_end|>\n<|im_start|>assistant\n";
const LONGER: &str = "<|im_start|>user\nList three facts about owls.<|im_end|>\n<|im_start|>assistant\nOwls are birds. Tell me about their eyes.<|im_end|>\n<|im_start|>assistant\n";

/// Runs `hearth generate` greedily; returns (stdout, stderr).
fn generate(prompt: &str, ctx: usize, extra: &[&str]) -> (String, String) {
    let model = common::model(common::SMOLLM2);
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["generate", "-m"])
        .arg(&model)
        .args(["-p", prompt, "-n", "20", "--temp", "0", "-t", "2", "-c"])
        .arg(ctx.to_string())
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "hearth failed: {stderr}");
    (stdout, stderr)
}

fn cache_args(p: &Path) -> Vec<&str> {
    vec!["--prompt-cache", p.to_str().unwrap()]
}

#[test]
fn prompt_cache_matches_uncached_output() {
    let dir = scratch("prompt-cache");
    let cache = dir.join("owls.cache");
    let (base, _) = generate(PROMPT, 512, &[]);
    assert!(!base.is_empty());

    // Created.
    let (out, err) = generate(PROMPT, 512, &cache_args(&cache));
    assert_eq!(out, base);
    assert!(err.contains("not found, creating it"), "{err}");
    let created = std::fs::read(&cache).unwrap();
    let n_prompt = hearth::session::read_header(&cache).unwrap().n_tokens;

    // Fully reused: the saved logits are used, nothing is evaluated or saved.
    let (out, err) = generate(PROMPT, 512, &cache_args(&cache));
    assert_eq!(out, base);
    assert!(
        err.contains(&format!("reusing {n_prompt} of {n_prompt} prompt tokens")),
        "{err}"
    );
    assert_eq!(std::fs::read(&cache).unwrap(), created, "not rewritten");

    // Partly reused: a longer prompt sharing the start.
    let (base_long, _) = generate(LONGER, 512, &[]);
    let (out, err) = generate(LONGER, 512, &cache_args(&cache));
    assert_eq!(out, base_long);
    assert!(err.contains("reusing"), "{err}");
    let n_long = hearth::session::read_header(&cache).unwrap().n_tokens;
    assert!(n_long > n_prompt, "the longer prompt was saved");

    // --prompt-cache-all saves the generated tokens; the prompt alone then reuses all but its
    // last token, which is evaluated again for its logits.
    let all = dir.join("all.cache");
    let mut args = cache_args(&all);
    args.push("--prompt-cache-all");
    let (out, _) = generate(PROMPT, 512, &args);
    assert_eq!(out, base);
    let n_all = hearth::session::read_header(&all).unwrap().n_tokens;
    assert!(n_all > n_prompt, "{n_all} tokens saved");
    let (out, err) = generate(PROMPT, 512, &cache_args(&all));
    assert_eq!(out, base);
    assert!(
        err.contains(&format!(
            "reusing {} of {n_prompt} prompt tokens",
            n_prompt - 1
        )),
        "{err}"
    );
    assert_eq!(
        hearth::session::read_header(&all).unwrap().n_tokens,
        n_all,
        "a matching cache is not shortened"
    );

    // Read-only: used, never written.
    let before = std::fs::read(&cache).unwrap();
    let mut args = cache_args(&cache);
    args.push("--prompt-cache-ro");
    let (out, err) = generate(PROMPT, 512, &args);
    assert_eq!(out, base);
    assert!(err.contains("reusing"), "{err}");
    assert_eq!(std::fs::read(&cache).unwrap(), before);

    // Damaged: warned about, ignored, replaced.
    std::fs::write(&cache, &before[..before.len() / 2]).unwrap();
    let (out, err) = generate(PROMPT, 512, &cache_args(&cache));
    assert_eq!(out, base);
    assert!(
        err.contains("ignoring prompt cache") && err.contains("truncated"),
        "{err}"
    );
    assert_eq!(
        hearth::session::read_header(&cache).unwrap().n_tokens,
        n_prompt
    );

    // Another context size: warned about and ignored.
    let (base256, _) = generate(PROMPT, 256, &[]);
    let mut args = cache_args(&cache);
    args.push("--prompt-cache-ro");
    let (out, err) = generate(PROMPT, 256, &args);
    assert_eq!(out, base256);
    assert!(err.contains("context of 512 tokens"), "{err}");
}
