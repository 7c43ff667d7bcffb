"""network.py — sten's networks for NumPy/SciPy users: build from a DSSTNE
JSON config, train on a user x item CSR matrix (an autoencoder: the rows are
both input and target, as `sten train` with gl_input/gl_output), recommend
top-N items, embed users (a layer's activations), find similar items (the
output layer's weights), save/load sten's model files. Sparse matrices are
handed to the engine as pointers (no dense copies); the GIL is released
inside the engine (ctypes does it for every call). It does not reimplement
any of the engine."""
from __future__ import annotations

import ctypes
import logging
import os
import tempfile
import threading
from ctypes import POINTER, byref, c_float, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib as L
from . import _netcdf

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
    """What one training epoch did (sten_epoch_stats). The validation fields
    are NaN (and best False) without validation data; valid_recall and
    valid_ndcg are Recall@rank_k (truncated) and NDCG@rank_k, NaN unless
    fit got rank_k."""
    epoch: int
    loss: float
    reg: float
    seconds: float
    examples_per_s: float
    alpha: float
    skipped_batches: int
    valid_loss: float = float("nan")
    valid_recall: float = float("nan")
    valid_ndcg: float = float("nan")
    best: bool = False


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


_SELECT = {"loss": 0, "recall": 1, "ndcg": 2}  # sten_select


class _Datasets:
    """A sten_dataset array over CSR views (or dense float32 label columns),
    one per DataSet name, and everything it points into (kept alive with
    it). dense: name -> a C-contiguous float32 array of one value per row
    (an FM's labels)."""

    def __init__(self, sparse: dict, dense: Optional[dict] = None):
        dense = dense or {}
        self.names = list(sparse) + list(dense)
        self.bufs = [ctypes.create_string_buffer(n) for n in self.names]
        self.arr = (L.Dataset * len(self.names))()
        self.views = []
        for i, n in enumerate(self.names):
            d = self.arr[i]
            d.name = ctypes.cast(self.bufs[i], ctypes.c_char_p)
            d.dims = 1
            if n in sparse:
                X, width = sparse[n]
                d.attributes = L.DS_SPARSE | (0 if X.valued else L.DS_BOOLEAN)
                d.dtype = 4 if X.valued else 0  # DSSTNE's Float / UInt, as generate-netcdf
                d.width = width
                d.examples = d.unique = X.shape[0]
                d.sparse = X.csr
                self.views.append(X)
            else:
                y = dense[n]
                d.width = 1
                d.dtype = 4
                d.examples = d.unique = len(y)
                d.dense = y.ctypes.data_as(POINTER(c_float))
                self.views.append(y)


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
        self._n_fit_items: Optional[int] = None  # the width of the matrix fit saw
        self._weights: Optional[dict] = None  # connection -> (W, b), read once per model
        self.history: List[EpochStats] = []  # the last fit's epochs

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
        self._weights = None

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
            valued: Optional[bool] = None, validation=None, patience: int = 0, rank_k: int = 0,
            select: str = "loss", keep_best: bool = False) -> "Network":
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
            validation: held-out users, scored after every epoch: one CSR
                matrix (input and target, as user_items), or a pair
                (fold_in, held_out) of CSR matrices with the same rows: the
                input layer reads fold_in, the output layer's targets are
                held_out (what rank_k needs). At most user_items' width.
            patience: stop after this many epochs without a better validation
                value (by select); 0 never stops early.
            rank_k: > 0 (needs the (fold_in, held_out) pair): after each epoch
                rank every item for each validation user except its fold-in
                items and score the top rank_k against held_out: Recall@k
                (hits / min(k, held-out)) and NDCG@k, in EpochStats.
            select: what patience and keep_best follow: "loss" (the validation
                loss, lower is better), "recall" or "ndcg" (at rank_k, higher
                is better).
            keep_best: end with the weights of the best validation epoch.
        Returns:
            self. `history` holds every epoch's EpochStats.
        Raises:
            Error: the engine refused the data or training failed (a diverging
                loss is STEN_E_NUMERIC).
            ValueError: bad arguments (validation wider than the data, rank_k
                without a (fold_in, held_out) pair, an unknown select).
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
        train = _Datasets({n: (X, width) for n in names})
        valid = None
        if validation is not None:
            if isinstance(validation, tuple):
                if len(validation) != 2 or inl.dataset == outl.dataset:
                    raise ValueError("validation=(fold_in, held_out) needs a pair of matrices and input and "
                                     "output layers bound to different DataSets")
                fold_in, held_out = (_CsrView(m, X.valued) for m in validation)
                if fold_in.shape[0] != held_out.shape[0]:
                    raise ValueError(f"validation fold_in has {fold_in.shape[0]} rows, held_out "
                                     f"{held_out.shape[0]}")
                views = {inl.dataset: fold_in, outl.dataset: held_out}
            else:
                if rank_k:
                    raise ValueError("rank_k needs validation=(fold_in, held_out): with one matrix every "
                                     "held-out item is also an input item, excluded from the ranking")
                v = _CsrView(validation, X.valued)
                views = {n: v for n in names}
            for n, v in views.items():
                if v.shape[1] > width:
                    raise ValueError(f"validation is {v.shape[1]} items wide, user_items {X.shape[1]}")
                if v.shape[0] == 0:
                    raise ValueError("validation has no rows")
                v.csr.cols = width
            valid = _Datasets({n: (views[n], width) for n in names})
        if select not in _SELECT:
            raise ValueError(f"select must be one of {', '.join(_SELECT)}, not {select!r}")
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
        if valid is not None:
            opts.valid, opts.n_valid = valid.arr, len(valid.names)
        opts.patience, opts.rank_k = int(patience), int(rank_k)
        opts.select, opts.keep_best = _SELECT[select], bool(keep_best)
        self._train(train, opts, callbacks, keep=[valid])
        self.valued_input = X.valued
        self._n_in = width if inl.N_auto else int(inl.N)
        self._n_out = width if outl.N_auto else int(outl.N)
        self._n_fit_items = X.shape[1]
        return self

    def _train(self, train: "_Datasets", opts: "L.TrainOpts", callbacks: Optional[Iterable[EpochCallback]],
               keep: list) -> None:
        """Builds the network on train's datasets, initialises the weights
        from opts.t.seed and trains (fit's engine part, shared with the
        Factorization Machines estimator). keep: what else the network
        borrows while it lives."""
        L.lib.sten_train_desc_resolve(byref(opts.t))
        opts.first_epoch = 1
        cbs = list(callbacks or [])
        failure: list = []
        history: List[EpochStats] = []

        def epoch_done(user, net, s):
            st = s.contents
            stats = EpochStats(int(st.epoch), float(st.loss), float(st.reg), float(st.seconds),
                               float(st.examples_per_s), float(st.alpha), int(st.skipped), float(st.valid_loss),
                               float(st.valid_recall), float(st.valid_ndcg), bool(st.best))
            history.append(stats)
            try:
                for cb in cbs:
                    if cb(stats) is False:
                        failure.append(None)
                        return -1
            except BaseException as e:  # raised again after the engine returns
                failure.append(e)
                return -1
            return 0

        done_cb = L.EPOCH_DONE_FN(epoch_done)
        opts.epoch_done = done_cb
        with self._lock:
            self._free_net()
            self.history = history
            self._keep = [train] + keep
            self._check(L.lib.sten_net_build(self._ctx, self._desc, train.arr, len(train.names), opts.t.batch_size,
                                             byref(self._net)))
            self._check(L.lib.sten_net_init_weights(self._ctx, self._net, opts.t.seed))
            st = L.lib.sten_net_train(self._ctx, self._net, byref(opts))
            if failure:
                L.lib.sten_ctx_clear_error(self._ctx)
                if failure[0] is not None:
                    raise failure[0]
            else:
                self._check(st)

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
        for ws, lo, hi, x in self._row_batches(user_items, step):
            ex = byref(x.csr) if filter_already_liked_items else None
            self._check(L.lib.sten_net_recommend_rows(
                self._ctx, self._net, ws, byref(x.csr), n_items, N, ex,
                out_idx[lo:hi].ctypes.data_as(POINTER(c_uint32)),
                out_val[lo:hi].ctypes.data_as(POINTER(c_float)), None))
        ids_out = out_idx.view(np.int32)  # unused slots: UINT32_MAX -> -1
        if scalar:
            return ids_out[0], out_val[0]
        return ids_out, out_val

    def embed(self, user_items, layer: Optional[str] = "Hidden", batch_size: int = 1024) -> np.ndarray:
        """The activations of a layer for each row of user_items.

        Runs the network on the rows (no dropout or denoising, as at
        prediction) and returns what `layer` computes: a user's embedding
        from a hidden layer, or the output layer's scores.

        Args:
            user_items: scipy.sparse CSR, one row per user (their items, as
                given to recommend); at most the input layer's width.
            layer: a layer name of the config; None is the output layer.
            batch_size: rows per engine call (bounds the workspace).
        Returns:
            float32 array, rows x the layer's units.
        Raises:
            Error: an unknown layer, or a column past the input's width.
        """
        if not self._net:
            raise Error("the network has not been trained or loaded yet", -1)
        B = int(user_items.shape[0])
        out: Optional[np.ndarray] = None
        step = max(1, min(int(batch_size), B))
        name = layer.encode() if layer is not None else None
        ptr, width = POINTER(c_float)(), c_uint32()
        for ws, lo, hi, x in self._row_batches(user_items, step):
            self._check(L.lib.sten_net_infer_rows(self._ctx, self._net, ws, byref(x.csr), name, byref(ptr),
                                                  byref(width)))
            if out is None:
                out = np.empty((B, width.value), np.float32)
            out[lo:hi] = np.ctypeslib.as_array(ptr, shape=(hi - lo, width.value))
        if out is None:  # no rows: the layer's width from the description
            units = {l.name.decode(): int(l.N) for l in self._layers(self._desc)}
            units[self._io_layers(self._desc)[1].name.decode()] = self._n_out
            if layer is not None and layer not in units:
                raise Error(f"no layer \"{layer}\"", -6)
            out = np.empty((0, units[layer] if layer is not None else self._n_out), np.float32)
        return out

    def _row_batches(self, user_items, step: int) -> Iterator[Tuple[c_void_p, int, int, "_CsrView"]]:
        """(workspace, lo, hi, rows lo..hi of user_items) for each batch of
        `step` rows, under the network's lock, through one rows workspace
        sized for the largest batch and freed when the loop ends."""
        B = int(user_items.shape[0])
        max_nnz = 1
        for lo in range(0, B, step):
            hi = min(B, lo + step)
            max_nnz = max(max_nnz, int(user_items.indptr[hi] - user_items.indptr[lo]))
        with self._lock:
            ws = c_void_p()
            self._check(L.lib.sten_workspace_new_rows(self._ctx, self._net, step, max_nnz, self.valued_input,
                                                      byref(ws)))
            try:
                for lo in range(0, B, step):
                    hi = min(B, lo + step)
                    yield ws, lo, hi, _CsrView(user_items, self.valued_input, (lo, hi))
            finally:
                L.lib.sten_workspace_free(self._ctx, ws)

    def weights(self, layer: Optional[str] = None, source: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
        """The weights and biases of the connection into a layer.

        Read from a snapshot of the model (written by :meth:`save` to a
        temporary file and read through libnetcdf, once per trained or
        loaded model): the C API hands out activations, not weights.

        Args:
            layer: the layer the connection feeds (None: the output layer).
            source: the layer it comes from; needed only when several feed
                `layer` (skips, several sources).
        Returns:
            (W, b): W float32 of shape (source units, layer units), input-major
            as the model file stores it (unit j of layer computes
            act(x @ W[:, j] + b[j]) from its source's activations x); b
            float32 of shape (layer units,).
        Raises:
            Error: no such connection, or several and no source given.
        """
        if not self._net:
            raise Error("the network has not been trained or loaded yet", -1)
        if layer is None:
            layer = self._io_layers(self._desc)[1].name.decode()
        conns = self._read_weights()
        found = [k for k in conns if k[1] == layer and (source is None or k[0] == source)]
        if len(found) != 1:
            have = ", ".join(f"{a} -> {b}" for a, b in conns) or "none"
            why = "no connection" if not found else "several connections (name the source)"
            raise Error(f"{why} into layer \"{layer}\"{'' if source is None else ' from ' + repr(source)} "
                        f"(the model's connections: {have})", -6)
        return conns[found[0]]

    def _read_weights(self) -> dict:
        """Every connection's (W, b) of the model, by (source, layer) name."""
        with self._lock:
            if self._weights is not None:
                return self._weights
            conns = {}
            with tempfile.TemporaryDirectory(prefix="sten-") as tmp:
                path = os.path.join(tmp, "model.nc")
                self._check(L.lib.sten_net_save(self._ctx, self._net, os.fsencode(path)))
                with _netcdf.File(path) as f:
                    k = 0
                    while f.has_att(f"weight{k}_inputLayer"):
                        p = f"weight{k}_"
                        src, dst = f.att_text(p + "inputLayer"), f.att_text(p + "outputLayer")
                        n_out, n_in = f.att_u64(p + "width"), f.att_u64(p + "height")
                        if not f.has_var(p + "weights"):
                            k += 1  # a shared weight: its matrix is its owner's
                            continue
                        W = f.var_float(p + "weights").reshape(n_in, n_out)
                        b = f.var_float(p + "bias") if f.has_var(p + "bias") else np.zeros(n_out, np.float32)
                        conns[(src, dst)] = (W, b)
                        k += 1
            self._weights = conns
            return conns

    def similar_items(self, itemids: Union[int, Sequence[int], np.ndarray], N: int = 10,
                      catalog_size: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """The N items most similar to each of itemids (implicit's API).

        An item's vector is its column of the output layer's weight matrix
        (the H weights that turn the last hidden layer into the item's score:
        the decoder's item embedding); similarity is the cosine of two such
        vectors (0 where one is all zero). An item is never its own neighbour.

        Args:
            itemids: item columns (a scalar gives 1-D results).
            N: neighbours per item.
            catalog_size: only items below this are candidates. None: the
                width of the matrix fit saw; for a loaded model the item count
                of the index it was trained with when the model records one
                (models from `sten train`), else every output unit (the
                128-padding included: pass the real count).
        Returns:
            (ids, scores): int32 and float32 arrays of len(itemids) x N, most
            similar first; padded with id -1 and score -inf when fewer than N
            candidates exist.
        Raises:
            Error: the output layer is not fed by one fully connected weight.
            IndexError: an item id outside the candidates.
        """
        W, _ = self.weights()
        V = W.T.astype(np.float32)  # items x H
        n = catalog_size if catalog_size is not None else self._catalog_size()
        n = max(0, min(int(n), V.shape[0]))
        V = V[:n]
        scalar = np.ndim(itemids) == 0
        ids = np.atleast_1d(np.asarray(itemids, dtype=np.int64))
        if N < 1:
            raise ValueError("N must be >= 1")
        if len(ids) and (ids.min() < 0 or ids.max() >= n):
            raise IndexError(f"item ids must be in [0, {n}) (catalog_size)")
        norms = np.linalg.norm(V, axis=1)
        Vn = V / np.where(norms > 0, norms, 1)[:, None]
        out_ids = np.full((len(ids), N), -1, np.int32)
        out_sc = np.full((len(ids), N), -np.inf, np.float32)
        K = min(N, n - 1)
        for lo in range(0, len(ids), 1024):
            q = ids[lo:lo + 1024]
            S = Vn[q] @ Vn.T  # cosines, (q, n)
            S[np.arange(len(q)), q] = -np.inf  # never the item itself
            if K <= 0:
                continue
            top = np.argsort(-S, axis=1, kind="stable")[:, :K]  # ties: the smaller id first
            out_ids[lo:lo + len(q), :K] = top
            out_sc[lo:lo + len(q), :K] = np.take_along_axis(S, top, axis=1)
        if scalar:
            return out_ids[0], out_sc[0]
        return out_ids, out_sc

    def _catalog_size(self) -> int:
        if self._n_fit_items is not None:
            return self._n_fit_items
        entries = int(self._io_layers(self._desc)[1].features.entries)
        return entries if entries else self._n_out

    def save(self, path: PathLike) -> None:
        """Writes the model in sten's NetCDF model format (DSSTNE's schema),
        atomically; `sten predict -n PATH` reads it."""
        if not self._net:
            raise Error("the network has not been trained or loaded yet", -1)
        with self._lock:
            self._check(L.lib.sten_net_save(self._ctx, self._net, os.fsencode(path)))
