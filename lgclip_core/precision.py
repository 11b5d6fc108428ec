"""How forward passes run: bf16 autocast where the hardware computes bf16 natively (else fp32), compiled or eager.

Both are chosen at run time by measurement-backed rules, can be forced by environment variables, and are named in
the encoder's ``config()`` (so in every cache key and manifest) whenever they differ from fp32 / eager.
"""

from __future__ import annotations

import os
import shutil

import torch

from .errors import BadInputError

PRECISIONS = ("fp32", "bf16")
PRECISION_ENV = "LGCLIP_ENCODER_PRECISION"
BACKENDS = ("eager", "inductor")
BACKEND_ENV = "LGCLIP_ENCODER_BACKEND"


def native_bf16() -> bool:
    """Whether this machine computes bf16 in hardware: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX
    (elsewhere bf16 autocast is emulated and slower than fp32, so it is never the automatic choice)."""
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    try:
        with open("/proc/cpuinfo") as f:
            flags = {w for line in f if line.startswith("flags") for w in line.split()}
    except OSError:  # not Linux: no reliable way to tell, so fp32
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str | None = None, env: str = PRECISION_ENV) -> str:
    """``precision`` or ``$env`` ("auto" by default): "auto" is bf16 autocast where the hardware has native bf16
    (bench/bench_lgclip.py measures the speed-up against fp32; the accuracy change is measured on the full test
    set, see the book's efficiency chapter) and fp32 elsewhere."""
    p = (precision or os.environ.get(env) or "auto").lower()
    if p == "auto":
        return "bf16" if native_bf16() else "fp32"
    if p not in PRECISIONS:
        raise BadInputError(f"precision must be 'auto' or one of {PRECISIONS}, got {p!r} (argument or ${env})")
    return p


def resolve_backend(backend: str | None = None, env: str = BACKEND_ENV) -> str:
    """``backend`` or ``$env`` ("auto" by default): "inductor" runs the encoder as an AOTInductor package with
    frozen weights, built once per machine into the model cache (``encoders.compiled_package``;
    bench/bench_lgclip.py section 6 measures the speed-up against eager, best-of and sustained, and the first
    call's seconds: bench/results/lgclip_bench.json); "auto" picks it on a CPU with native bf16, a C++ compiler
    on the PATH and a writable compile cache, and "eager" elsewhere (GPUs, machines where it was not measured)."""
    b = (backend or os.environ.get(env) or "auto").lower()
    if b == "auto":
        cpu_only = not torch.cuda.is_available()
        has_compiler = any(shutil.which(c) for c in ("c++", "g++", "clang++"))
        usable = cpu_only and native_bf16() and has_compiler and compile_cache_writable()
        return "inductor" if usable else "eager"
    if b not in BACKENDS:
        raise BadInputError(f"encoder backend must be 'auto' or one of {BACKENDS}, got {b!r} (argument or ${env})")
    return b


def compile_cache_writable() -> bool:
    """Whether inductor can write its code cache ($TORCHINDUCTOR_CACHE_DIR, else /tmp/torchinductor_<user>).

    Why: the default folder is named after $USER, so a process of another user that inherited $USER (``sudo -E``,
    ``setpriv``) finds it owned by someone else and its compilation fails; such a process runs eager instead."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    path = os.path.abspath(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or default_cache_dir())
    while not os.path.exists(path):  # the first folder that exists must let us create the rest
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.access(path, os.W_OK | os.X_OK)
