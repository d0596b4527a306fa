#!/usr/bin/env python3
"""Golden data from llama.cpp (PyPI llama-cpp-python) for hearth's engine tests.

Writes, per model, golden/<name>/model.json with:
  - greedy continuations (64 tokens) of several prompts, with llama.cpp's top-2 logit gap at each
    step (a divergence is only tolerated right after a near tie);
  - the last-position logits of a few prompts (little-endian f32 files next to the JSON);
  - perplexity on a text with llama.cpp's method (score the second half of each chunk).

Usage: scripts/golden_model.py MODEL.gguf NAME [--ppl-text FILE --ppl-ctx 512 --ppl-chunks 20]
Run with the cached virtual environment made by scripts/llama-venv.
"""
import argparse, json, math, os, sys
import numpy as np
from llama_cpp import Llama

PLAIN = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n    ",
    "The three primary colors are",
    "Water boils at a temperature of",
    "In 1969, the first humans",
    "Here is a list of fruits: apple, banana,",
    "The quick brown fox",
]
CHAT_USER = [
    "What is the capital of Japan?",
    "Write a haiku about autumn.",
    "Explain recursion in one sentence.",
    "Give me three tips for better sleep.",
]


def chatml(user, system="You are a helpful AI assistant named SmolLM, trained by Hugging Face"):
    return (f"<|im_start|>system\n{system}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


def gemma_chat(user):
    return f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"


def make_llm(path, n_ctx, logits_all):
    kw = dict(model_path=path, n_ctx=n_ctx, n_batch=512, n_threads=2, logits_all=logits_all,
              verbose=False, seed=0)
    try:
        return Llama(flash_attn=False, **kw)
    except TypeError:
        return Llama(**kw)


def last_logits(llm):
    """The logits of the last evaluated token, read straight from llama.cpp."""
    import llama_cpp
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float32).copy()


def greedy(llm, tokens, n):
    llm.reset()
    llm.eval(tokens)
    out, gaps = [], []
    for _ in range(n):
        logits = last_logits(llm)
        top2 = np.partition(logits, -2)[-2:]
        gaps.append(float(abs(top2[1] - top2[0])))
        tok = int(np.argmax(logits))
        out.append(tok)  # end-of-generation tokens do not stop it: 64 tokens always
        llm.eval([tok])
    return out, gaps


def perplexity(llm, text, n_ctx, n_chunks, add_bos, bos):
    toks = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)
    n_chunk_max = len(toks) // n_ctx
    n_chunks = min(n_chunks, n_chunk_max) if n_chunks > 0 else n_chunk_max
    first = n_ctx // 2
    nll, count, per_chunk = 0.0, 0, []
    for i in range(n_chunks):
        chunk = list(toks[i * n_ctx:(i + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        logits = np.array(llm.scores[:n_ctx], dtype=np.float64)
        for j in range(first, n_ctx - 1):
            row = logits[j]
            m = row.max()
            lse = m + math.log(np.exp(row - m).sum())
            nll += lse - row[chunk[j + 1]]
            count += 1
        per_chunk.append(math.exp(nll / count))
        print(f"[{i + 1}]{per_chunk[-1]:.4f}", file=sys.stderr, flush=True)
    return {"n_ctx": n_ctx, "chunks": n_chunks, "ppl": math.exp(nll / count), "running": per_chunk,
            "n_tokens": len(toks)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("name")
    ap.add_argument("--chat", choices=["chatml", "gemma"], default="chatml")
    ap.add_argument("--ppl-text")
    ap.add_argument("--ppl", action="append", default=[], help="CTX:CHUNKS, repeatable")
    ap.add_argument("--long-prompt-file", help="an extra prompt made of this file's first N tokens")
    ap.add_argument("--long-prompt-tokens", type=int, default=600)
    args = ap.parse_args()
    out_dir = os.path.join("golden", args.name)
    os.makedirs(out_dir, exist_ok=True)

    llm = make_llm(args.model, 2048, False)
    prompts = [{"kind": "plain", "text": p} for p in PLAIN]
    fmt = chatml if args.chat == "chatml" else gemma_chat
    prompts += [{"kind": "chat", "text": fmt(u)} for u in CHAT_USER]
    add_bos = llm._model.add_bos_token() if hasattr(llm._model, "add_bos_token") else None
    for p in prompts:
        p["tokens"] = llm.tokenize(p["text"].encode(), add_bos=True, special=True)
    if args.long_prompt_file:
        text = open(args.long_prompt_file, encoding="utf-8").read()
        toks = llm.tokenize(text.encode(), add_bos=True, special=False)[: args.long_prompt_tokens]
        prompts.append({"kind": "long", "text": None, "tokens": toks})
    for i, p in enumerate(prompts):
        p["continuation"], p["top2_gaps"] = greedy(llm, p["tokens"], 64)
        llm.reset()
        llm.eval(p["tokens"])
        logits = last_logits(llm).astype("<f4")
        if i < 4 or p["kind"] != "plain":
            fname = f"logits_{i}.f32"
            logits.tofile(os.path.join(out_dir, fname))
            p["logits_file"] = fname
        p["argmax"] = int(np.argmax(logits))
        print(f"prompt {i}: {len(p['tokens'])} tokens, {len(p['continuation'])} generated", file=sys.stderr)
    result = {"model": os.path.basename(args.model), "llama_cpp_python": __import__("llama_cpp").__version__,
              "prompts": prompts, "perplexity": []}
    if args.ppl_text:
        text = open(args.ppl_text, encoding="utf-8").read()
        for spec in args.ppl or ["512:20"]:
            n_ctx, chunks = map(int, spec.split(":"))
            pl = make_llm(args.model, n_ctx, True)
            bos = pl.token_bos()
            add = bool(pl._model.add_bos_token()) if hasattr(pl._model, "add_bos_token") else False
            r = perplexity(pl, text, n_ctx, chunks, add, bos)
            print(f"PPL c={n_ctx} chunks={chunks}: {r['ppl']:.4f}", file=sys.stderr)
            result["perplexity"].append(r)
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
