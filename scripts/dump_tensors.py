#!/usr/bin/env python3
"""Dumps llama.cpp's intermediate tensors (through the eval callback) for one prompt.

Usage: scripts/dump_tensors.py MODEL.gguf OUT_DIR TOKEN_IDS_JSON [--then TOKEN ...]

Evaluates the tokens as one batch (n_batch 512, 2 threads, flash attention off, as
scripts/golden_model.py does), then each `--then` token alone, and writes every computed
tensor as OUT_DIR/<step>/<name>.f32 (f32, or f16 bits as .f16) plus an index.json with shapes
and ops. A development aid for locating the first operation where hearth and llama.cpp differ.
"""
import ctypes, json, os, sys

import llama_cpp
from llama_cpp import Llama


class Tensor(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * 4),
        ("nb", ctypes.c_size_t * 4),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * 16),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * 10),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * 64),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


def main():
    model, out, toks = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    then = [int(t) for t in sys.argv[sys.argv.index("--then") + 1:]] if "--then" in sys.argv else []
    state = {"step": "batch", "index": []}

    @llama_cpp.ggml_backend_sched_eval_callback
    def cb(tp, ask, _user):
        t = ctypes.cast(tp, ctypes.POINTER(Tensor)).contents
        if ask:
            return True
        name = t.name.decode(errors="replace")
        if t.type not in (0, 1) or not t.data:
            return True
        esize = 4 if t.type == 0 else 2
        ne = list(t.ne)
        n = ne[0] * ne[1] * ne[2] * ne[3]
        nb = list(t.nb)
        buf = bytearray()
        # gather contiguous copy (handles views with strides)
        for i3 in range(ne[3]):
            for i2 in range(ne[2]):
                for i1 in range(ne[1]):
                    off = i1 * nb[1] + i2 * nb[2] + i3 * nb[3]
                    if nb[0] == esize:
                        buf += ctypes.string_at(t.data + off, ne[0] * esize)
                    else:
                        for i0 in range(ne[0]):
                            buf += ctypes.string_at(t.data + off + i0 * nb[0], esize)
        d = os.path.join(out, state["step"])
        os.makedirs(d, exist_ok=True)
        base = name.replace("/", "_")
        seen = state.setdefault("seen", {})
        k = seen.get((state["step"], base), 0)
        seen[(state["step"], base)] = k + 1
        if k:
            base += f"#{k}"
        fname = base + (".f32" if t.type == 0 else ".f16")
        with open(os.path.join(d, fname), "wb") as f:
            f.write(buf)
        state["index"].append({"step": state["step"], "name": name, "ne": ne, "op": t.op, "file": fname})
        return True

    llm = Llama(model_path=model, n_ctx=2048, n_batch=512, n_threads=2, flash_attn=False,
                verbose=False, logits_all=False)
    # Re-create the context with the callback installed.
    params = llm.context_params
    params.cb_eval = cb
    params.cb_eval_user_data = None
    ctx = llama_cpp.llama_init_from_model(llm.model, params)

    def decode(ts):
        arr = (llama_cpp.llama_token * len(ts))(*ts)
        rc = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(ts)))
        assert rc == 0, rc
        llama_cpp.llama_synchronize(ctx)

    decode(toks)
    for i, t in enumerate(then):
        state["step"] = f"then{i}"
        decode([t])
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(state["index"], f, indent=0)


if __name__ == "__main__":
    main()
