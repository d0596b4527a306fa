#!/usr/bin/env python3
"""Produce golden tokenizer data from llama.cpp (through llama-cpp-python).

Reads golden/tokenizer/corpus.txt -- one sample per line, with the escapes \\n (newline),
\\r (carriage return) and \\\\ (backslash) -- and tokenizes every sample with each model the
way llama.cpp's `llama_tokenize` does with add_special=True (BOS/EOS as the model's metadata
says) and parse_special=True, and also with parse_special=False. Besides the single lines it
tokenizes multi-line samples (groups of 12 consecutive lines joined by newlines) and the whole
corpus as one text. It records `llama_detokenize` output and vocabulary facts too, and,
for models that ship a chat template, a few conversations rendered with Jinja2 the way
Hugging Face renders chat templates.

Writes golden/tokenizer/smollm2.json and golden/tokenizer/gemma3.json, which
tests/tokenizer_golden.rs compares against.

Usage: python scripts/golden_tokenize.py [MODELS_DIR]
  MODELS_DIR defaults to $HEARTH_MODELS_DIR, then <repo>/models.
"""

import ctypes
import json
import os
import sys

import llama_cpp as L

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "golden", "tokenizer")
MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}
GROUP = 12


def unescape(line):
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            n = line[i + 1]
            out.append({"n": "\n", "r": "\r", "\\": "\\"}.get(n, "\\" + n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_samples():
    with open(os.path.join(GOLDEN, "corpus.txt"), encoding="utf-8", newline="") as f:
        raw = f.read()
    lines = raw.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [unescape(l) for l in lines]
    samples = list(lines)
    for i in range(0, len(lines), GROUP):
        samples.append("\n".join(lines[i : i + GROUP]))
    samples.append("\n".join(lines) + "\n")
    return samples


def tokenize(vocab, text, add_special, parse_special):
    data = text.encode("utf-8")
    n_max = len(data) + 16
    buf = (L.llama_token * n_max)()
    n = L.llama_tokenize(vocab, data, len(data), buf, n_max, add_special, parse_special)
    if n < 0:
        n_max = -n
        buf = (L.llama_token * n_max)()
        n = L.llama_tokenize(vocab, data, len(data), buf, n_max, add_special, parse_special)
    assert n >= 0
    return list(buf[:n])


def detokenize(vocab, ids, remove_special, unparse_special):
    arr = (L.llama_token * max(1, len(ids)))(*ids)
    size = 64 + 32 * len(ids)
    out = ctypes.create_string_buffer(size)
    n = L.llama_detokenize(vocab, arr, len(ids), out, size, remove_special, unparse_special)
    if n < 0:
        size = -n
        out = ctypes.create_string_buffer(size)
        n = L.llama_detokenize(vocab, arr, len(ids), out, size, remove_special, unparse_special)
    return out.raw[:n]


def piece(vocab, tok, special):
    out = ctypes.create_string_buffer(256)
    n = L.llama_token_to_piece(vocab, tok, out, 256, 0, special)
    if n < 0:
        out = ctypes.create_string_buffer(-n)
        n = L.llama_token_to_piece(vocab, tok, out, -n, 0, special)
    return out.raw[:n]


CONVERSATIONS = [
    [{"role": "user", "content": "Hi there!"}],
    [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "  And 3+3?  "},
    ],
    [
        {"role": "user", "content": "Write a haiku\nabout rust."},
        {"role": "assistant", "content": "Ferrous oxide blooms\u2014 😀"},
    ],
]


def render_chats(template, bos, eos):
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    tmpl = env.from_string(template)
    out = []
    for messages in CONVERSATIONS:
        for add_generation_prompt in (True, False):
            text = tmpl.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token=bos,
                eos_token=eos,
            )
            out.append(
                {"messages": messages, "add_generation_prompt": add_generation_prompt, "text": text}
            )
    return out


def opt(tok):
    return None if tok < 0 else tok


def main():
    models_dir = (
        sys.argv[1]
        if len(sys.argv) > 1
        else os.environ.get("HEARTH_MODELS_DIR", os.path.join(REPO, "models"))
    )
    samples = load_samples()
    L.llama_backend_init()
    L.llama_log_set(ctypes.cast(None, L.llama_log_callback), ctypes.c_void_p(0))
    for name, fname in MODELS.items():
        path = os.path.join(models_dir, fname)
        params = L.llama_model_default_params()
        params.vocab_only = True
        model = L.llama_model_load_from_file(path.encode(), params)
        if not model:
            sys.exit(f"cannot load {path}")
        vocab = L.llama_model_get_vocab(model)
        n_vocab = L.llama_vocab_n_tokens(vocab)
        records = []
        for text in samples:
            ids = tokenize(vocab, text, True, True)
            records.append(
                {
                    "text": text,
                    "ids": ids,
                    "ids_no_special": tokenize(vocab, text, False, False),
                    "detok_hex": detokenize(vocab, ids, True, True).hex(),
                    "detok_raw_hex": detokenize(vocab, ids, False, False).hex(),
                }
            )
        template = L.llama_model_chat_template(model, None)
        text_of = lambda t: "" if t < 0 else piece(vocab, t, True).decode("utf-8", "replace")
        chats = (
            render_chats(
                template.decode("utf-8"),
                text_of(L.llama_vocab_bos(vocab)),
                text_of(L.llama_vocab_eos(vocab)),
            )
            if template
            else []
        )
        sampled = sorted(set(list(range(min(n_vocab, 700))) + list(range(0, n_vocab, 97))))
        out = {
            "model": fname,
            "n_vocab": n_vocab,
            "bos": opt(L.llama_vocab_bos(vocab)),
            "eos": opt(L.llama_vocab_eos(vocab)),
            "eot": opt(L.llama_vocab_eot(vocab)),
            "nl": opt(L.llama_vocab_nl(vocab)),
            "add_bos": bool(L.llama_vocab_get_add_bos(vocab)),
            "eog": [t for t in range(n_vocab) if L.llama_vocab_is_eog(vocab, t)],
            "pieces": [
                [t, piece(vocab, t, True).hex(), piece(vocab, t, False).hex()] for t in sampled
            ],
            "chats": chats,
            "samples": records,
        }
        with open(os.path.join(GOLDEN, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=None, separators=(",", ":"))
            f.write("\n")
        L.llama_model_free(model)
        print(f"{name}: {len(records)} samples, {sum(len(r['ids']) for r in records)} tokens")


if __name__ == "__main__":
    main()
