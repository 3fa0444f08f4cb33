"""Native kernels: the part of a step that torch runs as many passes over memory, as one loop
in C++ compiled on this machine at first use.

The stacked path (:mod:`lrlab.stacked`) computes a layer stack's last layer, its
cross-entropy loss and the way back to the hidden layer as seven torch operations. Each reads
or writes all ``(lanes, hidden, samples)`` activations, which do not fit in the cache: the
time goes to memory traffic, not arithmetic. The kernel in ``lrlab/csrc/head.cc`` does the
same work lane by lane, with the lane's activations in cache.

How it is built: the first process that needs it compiles the source with the system's C++
compiler (``$CXX``, ``g++``, ``c++`` or ``clang++``) for this processor's vector
instructions and with OpenMP, in about 2 s, into lrlab's cache directory. The file's name
hashes the source, the compiler, the flags and the processor, so later processes load it
at once, and machines that share the directory each build their own. Before a library is
used, a small problem goes through it and through torch in float64; a library that disagrees
is not used. Without a compiler, or when anything fails, the stacked path takes its torch
operations: the same numbers up to float rounding.

``LRLAB_NATIVE`` in the environment: ``off`` never uses the kernel, ``on`` requires it
(:class:`NativeUnavailable` when it cannot be had), ``auto`` (the default) uses it when it
builds.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

__all__ = ["ENV", "NativeUnavailable", "compiler", "cross_entropy_head", "unavailable", "wanted"]

#: The environment variable that chooses: "auto", "on" or "off".
ENV = "LRLAB_NATIVE"
#: The interface version the library must report (``lrlab_head_version`` in the source).
_VERSION = 1
_SOURCE = Path(__file__).with_name("csrc") / "head.cc"
_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c++17"]
_COMPILE_SECONDS = 300

#: Activation codes of the kernel: the derivative it applies, from the activation's output.
ACTIVATIONS = {"Identity": 0, "Tanh": 1, "Sigmoid": 2, "ReLU": 3}

_lock = threading.Lock()
_state: dict[str, object] = {}  # "lib": the loaded library, or "why": the reason there is none


class NativeUnavailable(RuntimeError):
    """``LRLAB_NATIVE=on``, and the native kernel could not be built, loaded or checked."""


def _mode() -> str:
    mode = os.environ.get(ENV, "auto").strip().lower()
    return mode if mode in ("on", "off") else "auto"


def compiler() -> str | None:
    """The C++ compiler on the PATH (``$CXX``, g++, c++ or clang++), or None; inductor on the
    CPU (:mod:`lrlab.fused`) needs one too.

    Example:
        >>> compiler() is None or os.path.isfile(compiler())
        True
    """
    names = [os.environ["CXX"]] if os.environ.get("CXX") else []
    return next((p for n in [*names, "g++", "c++", "clang++"] if (p := shutil.which(n))), None)


def _processor() -> str:
    """What ``-march=native`` depends on: the processor's model and its feature flags."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine() + platform.processor()
    keep = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(dict.fromkeys(keep))


def _cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("lrlab")) / "native"


def _build(compiler: str) -> Path:
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    source = _SOURCE.read_bytes()
    key = hashlib.sha256(
        b"\0".join([source, version.encode(), " ".join(_FLAGS).encode(), _processor().encode()])
    ).hexdigest()[:20]
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / f"lrlab-native-{os.getuid()}"):
        target = folder / f"head-{key}.so"
        if target.exists():
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Built under a name of its own, then renamed: a process that finds the file
            # finds it whole, and two processes building at once both succeed.
            fd, partial = tempfile.mkstemp(dir=folder, suffix=".so.partial")
            os.close(fd)
        except OSError:
            continue
        try:
            done = subprocess.run(
                [compiler, *_FLAGS, str(_SOURCE), "-o", partial],
                capture_output=True,
                text=True,
                timeout=_COMPILE_SECONDS,
                check=False,
            )
            if done.returncode != 0:
                lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
                raise OSError(f"{Path(compiler).name} failed: {lines[0][:200]}")
            os.replace(partial, target)
            return target
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    raise OSError("no writable cache directory for the compiled kernel")


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    if lib.lrlab_head_version() != _VERSION:
        raise OSError(f"{path} is version {lib.lrlab_head_version()}, not {_VERSION}")
    f = lib.lrlab_head_cross_entropy
    i, fl, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    f.argtypes = [i, i, i, i, fl, fl, i, i, p, p, p, p, p, p, p, i]
    f.restype = i
    return lib


def _self_check(lib: ctypes.CDLL) -> None:
    """Run a small head (a partial vector of samples, two groups of classes, every
    activation) through the library and through torch's autograd in float64; raise if they
    differ."""
    gen = torch.Generator().manual_seed(0)
    K, H, C, n = 3, 5, 19, 37
    with torch.enable_grad():  # the caller may be inside no_grad
        for name, code in ACTIVATIONS.items():
            act = getattr(torch.nn, name)()
            z = torch.randn(K, H, n, generator=gen, dtype=torch.float64, requires_grad=True)
            w = torch.randn(K, C, H, generator=gen, dtype=torch.float64, requires_grad=True)
            b = torch.randn(K, C, generator=gen, dtype=torch.float64, requires_grad=True)
            target = torch.randint(0, C, (n,), generator=gen)
            h = act(z)
            out = torch.baddbmm(b[..., None], w, h)
            each = torch.nn.functional.cross_entropy(
                out.transpose(1, 2).reshape(K * n, C), target.repeat(K), reduction="none"
            ).view(K, n)
            want = [each.sum(dim=1), *torch.autograd.grad(each.sum() / n, [z, w, b])]
            a = h.detach().float().contiguous()
            got = [torch.zeros(K), a, torch.empty(K, C, H), torch.empty(K, C)]
            _call(
                lib,
                a,
                w.detach().float(),
                b.detach().float(),
                target,
                got[2],
                got[3],
                got[0],
                n,
                0.0,
                code,
                True,
            )
            for g, x in zip(got, want):
                if not torch.allclose(g.double(), x.detach(), rtol=1e-4, atol=1e-5):
                    raise OSError(f"the compiled kernel disagrees with torch ({name})")


def _library() -> ctypes.CDLL:
    with _lock:
        if "lib" in _state:
            return _state["lib"]  # type: ignore[return-value]
        if "why" not in _state:
            try:
                found = compiler()
                if found is None:
                    raise OSError("no C++ compiler ($CXX, g++, c++ or clang++) on the PATH")
                lib = _load(_build(found))
                _self_check(lib)
                _state["lib"] = lib
                return lib
            except (OSError, subprocess.SubprocessError, AttributeError) as e:
                _state["why"] = str(e) or type(e).__name__
        raise NativeUnavailable(f"lrlab's native kernel is unavailable: {_state['why']}")


def unavailable() -> str | None:
    """Why the native kernel is not used here, or None when it is (building it if needed).

    Example:
        >>> reason = unavailable()
        >>> reason is None or isinstance(reason, str)
        True
    """
    if _mode() == "off":
        return f"{ENV}=off"
    try:
        _library()
    except NativeUnavailable as e:
        return str(e)
    return None


def wanted() -> bool:
    """Whether to take the native kernel: it builds here and ``LRLAB_NATIVE`` is not ``off``;
    with ``LRLAB_NATIVE=on``, raises :class:`NativeUnavailable` when it does not build.

    Example:
        >>> isinstance(wanted(), bool)
        True
    """
    if _mode() == "off":
        return False
    try:
        _library()
    except NativeUnavailable:
        if _mode() == "on":
            raise
        return False
    return True


def _call(lib, a, w, b, target, gw, gb, loss, count, flush, act, first) -> None:
    K, H, n = a.shape
    C = w.shape[1]
    status = lib.lrlab_head_cross_entropy(
        K,
        H,
        C,
        n,
        float(count),
        float(flush),
        act,
        int(first),
        a.data_ptr(),
        w.data_ptr(),
        None if b is None else b.data_ptr(),
        target.data_ptr(),
        gw.data_ptr(),
        None if gb is None else gb.data_ptr(),
        loss.data_ptr(),
        torch.get_num_threads(),
    )
    if status != 0:
        raise MemoryError("the native kernel could not allocate its scratch memory")


def cross_entropy_head(
    a: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    target: torch.Tensor,
    gw: torch.Tensor,
    gb: torch.Tensor | None,
    loss: torch.Tensor,
    *,
    count: int,
    flush: float,
    activation: str,
    first: bool,
) -> None:
    """A layer stack's head for ``K`` lanes at once, in place: the last Linear layer
    ``out = w @ a + b``, the cross-entropy against ``target``, and the way back.

    ``a (K, H, n)`` holds the hidden layer's activations (the output of ``activation``, a
    name in :data:`ACTIVATIONS`) and receives dL/d the activation's input. ``w (K, C, H)`` and ``b (K, C)``
    (or None) are the last layer's; their gradients are set in ``gw`` and ``gb`` when
    ``first``, else added to them. Each lane's loss summed over the ``n`` samples is added to
    ``loss (K,)``; gradients are those of the mean over ``count`` samples, and a softmax
    probability at or below ``flush`` counts as zero. A lane whose output is not finite
    gets a NaN loss and NaN gradients. Every tensor is float32, contiguous, on the CPU.

    Example:
        >>> K, H, C, n = 2, 4, 3, 5
        >>> a, w = torch.rand(K, H, n), torch.randn(K, C, H)
        >>> gw, loss = torch.empty(K, C, H), torch.zeros(K)
        >>> if wanted():
        ...     cross_entropy_head(a, w, None, torch.tensor([0, 1, 2, 0, 1]), gw, None, loss,
        ...                        count=n, flush=0.0, activation="Tanh", first=True)
        >>> loss.shape
        torch.Size([2])
    """
    K, H, n = a.shape
    C = w.shape[1]
    shapes = [(a, (K, H, n)), (w, (K, C, H)), (gw, (K, C, H)), (loss, (K,))]
    shapes += [(t, (K, C)) for t in (b, gb) if t is not None]
    # The kernel trusts its pointers: every shape, type and layout is checked here.
    for t, shape in shapes:
        if t.numel() != torch.Size(shape).numel() or t.shape[0] != K:
            raise ValueError(f"native head: a tensor of shape {tuple(t.shape)}, not {shape}")
        if t.dtype != torch.float32 or t.device.type != "cpu" or not t.is_contiguous():
            raise ValueError("native head: tensors must be contiguous float32 on the CPU")
    if (b is None) != (gb is None):
        raise ValueError("native head: a bias and its gradient go together")
    if target.shape != (n,) or target.dtype != torch.long or not target.is_contiguous():
        raise ValueError(f"native head: target must be {n} contiguous int64 class indices")
    if n and (int(target.min()) < 0 or int(target.max()) >= C):
        raise ValueError(f"native head: a target outside 0..{C - 1}")
    _call(_library(), a, w, b, target, gw, gb, loss, count, flush, ACTIVATIONS[activation], first)
