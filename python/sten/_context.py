"""_context.py — one sten context for the functions and estimators that are
not a Network (sten/data.py, sten/estimators.py): its error buffer turned
into sten.Error, its thread count, and the array conversions the C API's
dense float matrices need. It owns nothing else."""
from __future__ import annotations

import ctypes
import threading
from ctypes import POINTER, byref, c_float, c_void_p
from typing import Optional

import numpy as np

from . import _lib as L
from .network import _LOG_CB, Error


class Context:
    """A sten_ctx (freed with the object); calls take turns on its lock."""

    def __init__(self, threads: Optional[int] = None, name: str = "sten"):
        ctx = c_void_p()
        st = L.lib.sten_ctx_init(byref(ctx))
        if st:
            raise Error("cannot create a sten context", st)
        self.ctx = ctx
        self.name = name
        self.lock = threading.RLock()
        L.lib.sten_ctx_set_log(ctx, _LOG_CB, None, 1)
        L.lib.sten_ctx_set_threads(ctx, int(threads or 0))

    def check(self, st: int, rename: Optional[tuple] = None) -> None:
        """Raises sten.Error with the context's message for a failed status;
        rename (old, new) replaces a temporary file's path in the message."""
        if st:
            msg = L.lib.sten_ctx_error(self.ctx).decode(errors="replace") or L.lib.sten_status_str(st).decode()
            L.lib.sten_ctx_clear_error(self.ctx)
            if rename:
                msg = msg.replace(rename[0], rename[1])
            raise Error(msg, st)

    def __del__(self) -> None:
        ctx = getattr(self, "ctx", None)
        if ctx:
            L.lib.sten_ctx_free(ctx)
            self.ctx = None


def dense_f32(X, name: str = "X", cols: Optional[int] = None) -> np.ndarray:
    """X as a C-contiguous float32 matrix: the array itself when it is one
    (zero-copy), else one conversion. Sparse input is refused (these
    algorithms are dense); so are NaN and infinite values."""
    if hasattr(X, "tocsr") and not isinstance(X, np.ndarray):
        raise TypeError(f"{name}: these algorithms take dense rows; got a sparse matrix (use .toarray())")
    A = np.asarray(X)
    if A.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (rows x features), got shape {A.shape}")
    if A.dtype != np.float32 or not A.flags.c_contiguous:
        A = np.ascontiguousarray(A, dtype=np.float32)
    if cols is not None and A.shape[1] != cols:
        raise ValueError(f"{name} has {A.shape[1]} features; the model was fit on {cols}")
    if A.size and not np.isfinite(A).all():
        raise ValueError(f"{name}: NaN or infinite values")
    return A


def f32p(a: Optional[np.ndarray]):
    """A float pointer to a float32 array (NULL for None)."""
    return None if a is None else a.ctypes.data_as(POINTER(c_float))


def u32p(a: np.ndarray):
    return a.ctypes.data_as(POINTER(ctypes.c_uint32))
