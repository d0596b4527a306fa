#!/usr/bin/env python3
"""Requantizes a GGUF file with llama.cpp's own quantizer (llama-cpp-python, allow_requantize).

Usage: scripts/requantize.py SRC.gguf OUT_DIR [TYPE ...]   (default types: Q4_0 Q8_0 Q4_K_M
Q5_K_M Q6_K). Writes OUT_DIR/<src stem>.<TYPE>.gguf. Runs itself under the cached
llama-cpp-python environment (scripts/llama-venv) when llama_cpp is not importable.
"""
import os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import llama_cpp as lc
except ImportError:
    py = subprocess.check_output([os.path.join(ROOT, "scripts", "llama-venv")], text=True).strip()
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])

FTYPES = {
    "Q4_0": lc.LLAMA_FTYPE_MOSTLY_Q4_0,
    "Q4_1": lc.LLAMA_FTYPE_MOSTLY_Q4_1,
    "Q5_0": lc.LLAMA_FTYPE_MOSTLY_Q5_0,
    "Q5_1": lc.LLAMA_FTYPE_MOSTLY_Q5_1,
    "Q8_0": lc.LLAMA_FTYPE_MOSTLY_Q8_0,
    "Q4_K_M": lc.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "Q5_K_M": lc.LLAMA_FTYPE_MOSTLY_Q5_K_M,
    "Q6_K": lc.LLAMA_FTYPE_MOSTLY_Q6_K,
}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, out_dir = sys.argv[1], sys.argv[2]
    types = sys.argv[3:] or ["Q4_0", "Q8_0", "Q4_K_M", "Q5_K_M", "Q6_K"]
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.basename(src).rsplit(".", 2)[0]
    for t in types:
        if t not in FTYPES:
            sys.exit(f"unknown type {t}; one of {', '.join(FTYPES)}")
        out = os.path.join(out_dir, f"{stem}.{t}.gguf")
        params = lc.llama_model_quantize_default_params()
        params.ftype = FTYPES[t]
        params.allow_requantize = True
        params.nthread = os.cpu_count() or 1
        tmp = out + ".tmp"
        rc = lc.llama_model_quantize(src.encode(), tmp.encode(), params)
        if rc != 0:
            sys.exit(f"llama_model_quantize({t}) returned {rc}")
        os.replace(tmp, out)
        print(out)


if __name__ == "__main__":
    main()
