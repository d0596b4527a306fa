#!/usr/bin/env python3
"""hearth vs llama.cpp on the same GGUF file, same thread count, alternating in one run.

Usage: scripts/bench.py MODEL.gguf [-p 512] [-n 128] [-d 0] [-t 2] [-r 5]

llama.cpp runs through llama-cpp-python's low-level API (llama_decode on one batch for pp,
single-token decodes for tg, random tokens, KV cleared between runs), as llama-bench does.
hearth runs `hearth bench -r 1 -o json` each round. Prints both speeds and hearth/llama.cpp.
Run it on an idle machine: anything compiling alongside makes every figure noisy.
"""
import argparse, ctypes, json, os, random, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def llama_python():
    return subprocess.check_output([os.path.join(ROOT, "scripts", "llama-venv")], text=True).strip()


class LlamaPeer:
    def __init__(self, model, threads, n_ctx, n_batch):
        import llama_cpp as lc
        self.lc = lc
        self.llm = lc.Llama(model_path=model, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
                            n_threads=threads, n_threads_batch=threads, verbose=False,
                            logits_all=False)
        self.ctx = self.llm._ctx.ctx
        self.n_vocab = self.llm.n_vocab()

    def clear(self):
        lc = self.lc
        if hasattr(lc, "llama_memory_clear"):
            lc.llama_memory_clear(lc.llama_get_memory(self.ctx), True)
        else:
            lc.llama_kv_self_clear(self.ctx)

    def decode(self, toks):
        arr = (self.lc.llama_token * len(toks))(*toks)
        rc = self.lc.llama_decode(self.ctx, self.lc.llama_batch_get_one(arr, len(toks)))
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def run(self, n_prompt, n_gen, depth):
        self.clear()
        if depth:
            for i in range(0, depth, 512):
                self.decode([random.randrange(self.n_vocab) for _ in range(min(512, depth - i))])
        t0 = time.perf_counter()
        if n_prompt:
            self.decode([random.randrange(self.n_vocab) for _ in range(n_prompt)])
            self.lc.llama_synchronize(self.ctx)
            n = n_prompt
        else:
            for _ in range(n_gen):
                self.decode([random.randrange(self.n_vocab)])
            self.lc.llama_synchronize(self.ctx)
            n = n_gen
        return n / (time.perf_counter() - t0)


def hearth_run(binary, model, n_prompt, n_gen, depth, threads, reps):
    out = subprocess.check_output([binary, "bench", "-m", model, "-p", str(n_prompt), "-n", str(n_gen),
                                   "-d", str(depth), "-t", str(threads), "-r", str(reps), "-o", "json"],
                                  text=True)
    return json.loads(out)[0]["samples_ts"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-d", type=int, default=0)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("--hearth", default=os.path.join(ROOT, "target", "release", "hearth"))
    ap.add_argument("--_inner", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        py = llama_python()
        os.execv(py, [py] + sys.argv)
    if not os.path.exists(a.hearth):
        subprocess.check_call(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    n_ctx = a.d + max(a.p, a.n) + 16
    peer = LlamaPeer(a.model, a.t, n_ctx, max(a.p, 512))
    tests = [(a.p, 0), (0, a.n)]
    print(f"model: {os.path.basename(a.model)}  threads: {a.t}  depth: {a.d}  rounds: {a.r}")
    print("| test | llama.cpp t/s | hearth t/s | hearth / llama.cpp |")
    print("| --- | ---: | ---: | ---: |")
    rows = []
    for (p, g) in tests:
        if p + g == 0:
            continue
        peer.run(p, g, a.d)  # warm-up
        hearth_run(a.hearth, a.model, p, g, a.d, a.t, 1)
        ls, hs = [], []
        for _ in range(a.r):  # alternate the two engines round by round
            ls.append(peer.run(p, g, a.d))
            hs.extend(hearth_run(a.hearth, a.model, p, g, a.d, a.t, 1))
        name = f"pp{p}" if p else f"tg{g}"
        if a.d:
            name += f" @ d{a.d}"
        lm, hm = statistics.mean(ls), statistics.mean(hs)
        ld = statistics.stdev(ls) if len(ls) > 1 else 0.0
        hd = statistics.stdev(hs) if len(hs) > 1 else 0.0
        print(f"| {name} | {lm:.2f} ± {ld:.2f} | {hm:.2f} ± {hd:.2f} | {hm / lm:.2f}x |", flush=True)
        rows.append({"test": name, "llama_cpp_ts": lm, "hearth_ts": hm, "ratio": hm / lm})
    if os.environ.get("HEARTH_BENCH_JSON"):
        with open(os.environ["HEARTH_BENCH_JSON"], "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
