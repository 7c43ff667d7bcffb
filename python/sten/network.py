"""network.py — sten's networks for NumPy/SciPy users: build from a DSSTNE
JSON config, train on a user x item CSR matrix (an autoencoder: the rows are
both input and target, as `sten train` with gl_input/gl_output), recommend
top-N items, save/load sten's model files. Sparse matrices are handed to the
engine as pointers (no dense copies); the GIL is released inside the engine
(ctypes does it for every call). It does not reimplement any of the engine."""
from __future__ import annotations

import ctypes
import logging
import os
import threading
from ctypes import POINTER, byref, c_float, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib as L

_log = logging.getLogger("sten")
PathLike = Union[str, "os.PathLike[str]"]


class Error(Exception):
    """An error reported by libsten.

    Attributes:
        status: sten's status code (negative, e.g. -4 for STEN_E_PARSE).
        status_name: its symbolic name ("STEN_E_PARSE").
        message: sten's message, which says where ("ae.json:3:7: ...").
    """

    def __init__(self, message: str, status: int):
        self.message = message
        self.status = int(status)
        self.status_name = L.lib.sten_status_name(self.status).decode()
        super().__init__(f"{message} [{self.status_name}]")


@dataclass(frozen=True)
class EpochStats:
    """What one training epoch did (sten_epoch_stats)."""
    epoch: int
    loss: float
    reg: float
    seconds: float
    examples_per_s: float
    alpha: float
    skipped_batches: int


EpochCallback = Callable[[EpochStats], Optional[bool]]


def _log_to_python(user: Optional[int], level: int, msg: bytes) -> None:
    if level == 0:  # errors come back as sten.Error, not twice
        return
    _log.log({0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}.get(level, logging.DEBUG),
             "%s", msg.decode(errors="replace"))


_LOG_CB = L.LOG_FN(_log_to_python)  # one for the process; must outlive every context


class _CsrView:
    """A sten_csr over a SciPy CSR matrix's own arrays, with the few
    conversions the dtypes force (each one said in `converted`):
    indptr to uint64 always unless it is int64 already (rows + 1 values),
    indices to uint32 only when they are not int32, values to float32 only
    when the matrix is valued and not float32. `valued` None: values are
    kept unless every stored value is 1 (then the rows are boolean, as
    `sten generate-netcdf`'s indicator data)."""

    def __init__(self, X, valued: Optional[bool] = None, rows: Optional[Tuple[int, int]] = None):
        import scipy.sparse as sp
        if not sp.issparse(X):
            raise TypeError(f"expected a scipy.sparse CSR matrix, got {type(X).__name__}")
        if X.format != "csr":
            raise TypeError(f"expected CSR (scipy.sparse.csr_matrix / csr_array), got {X.format.upper()}: "
                            "convert with .tocsr() first")
        self.converted: List[str] = []
        lo, hi = rows if rows is not None else (0, X.shape[0])
        indptr = X.indptr[lo:hi + 1]
        base = int(indptr[0])
        if indptr.dtype == np.int64 and base == 0 and indptr.flags.c_contiguous:
            self.row_ptr = indptr.view(np.uint64)
        else:
            self.row_ptr = (indptr - base).astype(np.uint64)
            self.converted.append("indptr")
        nnz = int(self.row_ptr[-1])
        indices = X.indices[base:base + nnz]
        if indices.dtype == np.int32 and indices.flags.c_contiguous:
            self.col = indices.view(np.uint32)
        else:
            if nnz and (indices.min() < 0 or indices.max() >= 2 ** 32):
                raise ValueError("column indices out of range")
            self.col = np.ascontiguousarray(indices, dtype=np.uint32)
            self.converted.append("indices")
        data = X.data[base:base + nnz]
        if valued is None:
            valued = bool(nnz) and not bool(np.all(data == 1))
        self.valued = valued
        self.val = None
        if valued:
            if data.dtype == np.float32 and data.flags.c_contiguous:
                self.val = data
            else:
                self.val = np.ascontiguousarray(data, dtype=np.float32)
                self.converted.append("data")
        self.shape = (hi - lo, X.shape[1])
        self.csr = L.Csr(rows=hi - lo, cols=X.shape[1], nnz=nnz, cap=nnz, row_cap=hi - lo,
                         row_ptr=self.row_ptr.ctypes.data_as(POINTER(c_uint64)),
                         col=self.col.ctypes.data_as(POINTER(c_uint32)),
                         val=self.val.ctypes.data_as(POINTER(c_float)) if valued else None)


class Network:
    """A sten network: a DSSTNE-style autoencoder (or any network with one
    sparse input layer and one output layer over the same items).

    Build one with :meth:`from_config` (then :meth:`fit`) or :meth:`load`.
    A Network may be used from several Python threads; its calls take turns
    (one sten context each), and while one runs in the engine the GIL is free.
    """

    def __init__(self, threads: Optional[int] = None):
        ctx = c_void_p()
        st = L.lib.sten_ctx_init(byref(ctx))
        if st:
            raise Error("cannot create a sten context", st)
        self._ctx = ctx
        self._lock = threading.RLock()
        self._desc = None  # POINTER(NetDesc) from the config, owned
        self._net = c_void_p()
        self._keep: list = []  # what the network borrows (datasets and the arrays under them)
        L.lib.sten_ctx_set_log(ctx, _LOG_CB, None, 1)
        L.lib.sten_ctx_set_threads(ctx, int(threads or 0))
        self.valued_input = False
        # the input and output widths: sten_net_description keeps N: "auto"
        # layers at their config value, so they are taken from the data or
        # the model file
        self._n_in = self._n_out = 0

    # ---------------------------------------------------------------- helpers
    def _check(self, st: int) -> None:
        if st:
            msg = L.lib.sten_ctx_error(self._ctx).decode(errors="replace") or \
                L.lib.sten_status_str(st).decode()
            L.lib.sten_ctx_clear_error(self._ctx)
            raise Error(msg, st)

    def _free_net(self) -> None:
        if self._net:
            L.lib.sten_net_free(self._ctx, self._net)
            self._net = c_void_p()
        self._keep = []

    def __del__(self) -> None:
        ctx = getattr(self, "_ctx", None)
        if not ctx:
            return
        self._free_net()
        if self._desc:
            L.lib.sten_net_desc_free(ctx, self._desc)
            self._desc = None
        L.lib.sten_ctx_free(ctx)
        self._ctx = None

    def _layers(self, desc) -> List["L.LayerDesc"]:
        d = desc.contents
        return [d.layers[i] for i in range(d.n_layers)]

    def _io_layers(self, desc) -> Tuple["L.LayerDesc", "L.LayerDesc"]:
        layers = self._layers(desc)
        ins = [l for l in layers if l.kind == L.LAYER_INPUT]
        outs = [l for l in layers if l.kind == L.LAYER_OUTPUT]
        if len(ins) != 1 or len(outs) != 1 or not ins[0].sparse or not ins[0].dataset:
            raise Error(f"{desc.contents.source.decode()}: the Python package runs networks with one sparse "
                        f"input layer and one output layer; this one has {len(ins)} input and "
                        f"{len(outs)} output layers", -8)
        return ins[0], outs[0]

    @property
    def threads(self) -> int:
        """Threads the engine uses (0 or None at construction: all cores)."""
        return int(L.lib.sten_ctx_threads(self._ctx))

    @property
    def epochs_done(self) -> int:
        """Epochs trained so far (0 before fit)."""
        return int(L.lib.sten_net_epoch(self._net)) if self._net else 0

    @property
    def n_items(self) -> int:
        """Units of the output layer (the catalogue width, rounded up to 128 as DSSTNE)."""
        if not self._net:
            raise Error("the network has not been trained or loaded yet", -1)
        return self._n_out

    # ------------------------------------------------------------- building
    @classmethod
    def from_config(cls, path: PathLike, threads: Optional[int] = None) -> "Network":
        """Reads a DSSTNE JSON network config (sten's dialect: docs/config.md).

        Args:
            path: the config file.
            threads: engine threads (None: all cores). Training is bit-identical
                for the same seed, batch size and thread count.
        Raises:
            Error: the config is invalid; the message names file:line:column.
        """
        self = cls(threads)
        desc = POINTER(L.NetDesc)()
        with self._lock:
            self._check(L.lib.sten_net_desc_load(self._ctx, os.fsencode(path), byref(desc)))
        self._desc = desc
        self._io_layers(desc)
        return self

    @classmethod
    def load(cls, path: PathLike, threads: Optional[int] = None) -> "Network":
        """Loads a model file written by :meth:`save` or by `sten train` (or DSSTNE).

        Raises:
            Error: the file is missing, not a model, or from a newer sten.
        """
        self = cls(threads)
        p = os.fsencode(path)
        with self._lock:
            desc = POINTER(L.NetDesc)()
            self._check(L.lib.sten_model_read_desc(self._ctx, p, byref(desc)))
            self._desc = desc
            inl, outl = self._io_layers(desc)
            self._n_in, self._n_out = int(inl.N), int(outl.N)
            # a one-row stand-in for the input: recommend brings its own rows
            row_ptr = np.zeros(2, np.uint64)
            col = np.zeros(1, np.uint32)
            name = ctypes.create_string_buffer(inl.dataset)
            ds = L.Dataset(name=ctypes.cast(name, ctypes.c_char_p), attributes=L.DS_SPARSE | L.DS_BOOLEAN,
                           dims=1, width=inl.N, examples=1, unique=1,
                           sparse=L.Csr(rows=1, cols=inl.N, nnz=0, cap=1, row_cap=1,
                                        row_ptr=row_ptr.ctypes.data_as(POINTER(c_uint64)),
                                        col=col.ctypes.data_as(POINTER(c_uint32))))
            self._keep = [row_ptr, col, name, ds]
            self._check(L.lib.sten_net_load(self._ctx, p, byref(ds), 1, 1, False, byref(self._net)))
        return self

    def fit(self, user_items, epochs: Optional[int] = None, batch_size: Optional[int] = None,
            seed: Optional[int] = None, callbacks: Optional[Iterable[EpochCallback]] = None,
            valued: Optional[bool] = None) -> "Network":
        """Trains from fresh weights as an autoencoder on the rows of user_items.

        The same CSR matrix is the input layer's and the output layer's data
        (their DataSet names in the config), as `sten train -i gl_input.nc -o
        gl_output.nc` on the same text. Its width is rounded up to a multiple
        of 128, as `sten generate-netcdf` does, so the model has the same shape
        as one the command line trains on the same data.

        Args:
            user_items: scipy.sparse CSR, users x items. Its indptr/indices/data
                are passed to the engine as pointers: int32 indices and float32
                data are not copied; indptr becomes uint64 (one array of
                rows + 1, unless it is int64 already).
            epochs, batch_size, seed: override the config's Training object
                (defaults there: 40, 1024, 12134).
            callbacks: called after each epoch with an :class:`EpochStats`;
                returning False stops training after that epoch.
            valued: keep the matrix's values (True) or treat every stored entry
                as 1 (False, DSSTNE's indicator data). None: values are kept
                unless all are 1.
        Returns:
            self.
        Raises:
            Error: the engine refused the data or training failed (a diverging
                loss is STEN_E_NUMERIC).
        """
        if self._desc is None:
            raise Error("no network description (use Network.from_config)", -1)
        X = _CsrView(user_items, valued)
        if X.shape[0] == 0:
            raise ValueError("user_items has no rows")
        inl, outl = self._io_layers(self._desc)
        width = int(L.lib.sten_round_width(X.shape[1]))
        X.csr.cols = width
        names = []
        for l in (inl, outl):
            if l.dataset and l.dataset not in names:
                names.append(l.dataset)
        bufs = [ctypes.create_string_buffer(n) for n in names]
        arr = (L.Dataset * len(names))()
        for i, b in enumerate(bufs):
            arr[i].name = ctypes.cast(b, ctypes.c_char_p)
            arr[i].attributes = L.DS_SPARSE | (0 if X.valued else L.DS_BOOLEAN)
            arr[i].dtype = 4 if X.valued else 0  # DSSTNE's Float / UInt, as generate-netcdf
            arr[i].dims = 1
            arr[i].width = width
            arr[i].examples = arr[i].unique = X.shape[0]
            arr[i].sparse = X.csr
        opts = L.TrainOpts()
        opts.t = self._desc.contents.training
        if batch_size is not None:
            opts.t.batch_size = int(batch_size)
        if epochs is not None:
            opts.t.epochs = int(epochs)
        if seed is not None:
            opts.t.seed = int(seed)
        if opts.t.batch_size < 1 or opts.t.epochs < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        L.lib.sten_train_desc_resolve(byref(opts.t))
        opts.first_epoch = 1
        cbs = list(callbacks or [])
        failure: list = []

        def epoch_done(user, net, s):
            st = s.contents
            stats = EpochStats(int(st.epoch), float(st.loss), float(st.reg), float(st.seconds),
                               float(st.examples_per_s), float(st.alpha), int(st.skipped))
            try:
                for cb in cbs:
                    if cb(stats) is False:
                        failure.append(None)
                        return -1
            except BaseException as e:  # raised again after the engine returns
                failure.append(e)
                return -1
            return 0

        done_cb = L.EPOCH_DONE_FN(epoch_done) if cbs else L.EPOCH_DONE_FN()
        opts.epoch_done = done_cb
        with self._lock:
            self._free_net()
            self._keep = [X, bufs, arr]
            self._check(L.lib.sten_net_build(self._ctx, self._desc, arr, len(names), opts.t.batch_size,
                                             byref(self._net)))
            self._check(L.lib.sten_net_init_weights(self._ctx, self._net, opts.t.seed))
            st = L.lib.sten_net_train(self._ctx, self._net, byref(opts))
            if failure:
                L.lib.sten_ctx_clear_error(self._ctx)
                if failure[0] is not None:
                    raise failure[0]
            else:
                self._check(st)
        self.valued_input = X.valued
        self._n_in = width if inl.N_auto else int(inl.N)
        self._n_out = width if outl.N_auto else int(outl.N)
        return self

    # -------------------------------------------------------------- results
    def recommend(self, userids: Union[int, Sequence[int], np.ndarray], user_items, N: int = 10,
                  filter_already_liked_items: bool = True,
                  batch_size: int = 1024) -> Tuple[np.ndarray, np.ndarray]:
        """Top-N items for users from their rows of user_items (implicit's API).

        The network scores each user's history (its row), so user_items either
        has exactly one row per entry of userids (row i for userids[i]) or is
        the whole matrix, whose rows userids are taken (a CSR slice copy).

        Args:
            userids: user numbers (a scalar gives 1-D results).
            user_items: scipy.sparse CSR with the users' items; its width is at
                most the model's output units.
            N: items per user.
            filter_already_liked_items: leave out each user's own items.
            batch_size: users scored per engine call (bounds the workspace).
        Returns:
            (ids, scores): int32 and float32 arrays of len(userids) x N, best
            first, scores descending. A row with fewer than N eligible items is
            padded with id -1 and score -inf.
        Raises:
            Error: the engine refused the rows (a column past the model's width).
        """
        if not self._net:
            raise Error("the network has not been trained or loaded yet", -1)
        scalar = np.ndim(userids) == 0
        ids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        if user_items.shape[0] != len(ids):
            user_items = user_items[ids]
        if N < 1:
            raise ValueError("N must be >= 1")
        B = len(ids)
        n_items = int(user_items.shape[1])
        out_idx = np.empty((B, N), np.uint32)
        out_val = np.empty((B, N), np.float32)
        step = max(1, min(int(batch_size), B))
        with self._lock:
            ws = c_void_p()
            max_nnz = 1
            for lo in range(0, B, step):
                hi = min(B, lo + step)
                max_nnz = max(max_nnz, int(user_items.indptr[hi] - user_items.indptr[lo]))
            self._check(L.lib.sten_workspace_new_rows(self._ctx, self._net, step, max_nnz, self.valued_input,
                                                      byref(ws)))
            try:
                for lo in range(0, B, step):
                    hi = min(B, lo + step)
                    x = _CsrView(user_items, self.valued_input, (lo, hi))
                    ex = byref(x.csr) if filter_already_liked_items else None
                    self._check(L.lib.sten_net_recommend_rows(
                        self._ctx, self._net, ws, byref(x.csr), n_items, N, ex,
                        out_idx[lo:hi].ctypes.data_as(POINTER(c_uint32)),
                        out_val[lo:hi].ctypes.data_as(POINTER(c_float)), None))
            finally:
                L.lib.sten_workspace_free(self._ctx, ws)
        ids_out = out_idx.view(np.int32)  # unused slots: UINT32_MAX -> -1
        if scalar:
            return ids_out[0], out_val[0]
        return ids_out, out_val

    def save(self, path: PathLike) -> None:
        """Writes the model in sten's NetCDF model format (DSSTNE's schema),
        atomically; `sten predict -n PATH` reads it."""
        if not self._net:
            raise Error("the network has not been trained or loaded yet", -1)
        with self._lock:
            self._check(L.lib.sten_net_save(self._ctx, self._net, os.fsencode(path)))
