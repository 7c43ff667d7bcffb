"""estimators.py — sten's built-in algorithms as scikit-learn style
estimators: FactorizationMachines (a sten network), KMeans, PCA, KNN and
LinearLearner (src/algo). Hyperparameters carry SageMaker's names and go
through the same hyperparameter readers as `sten train --algorithm ...`, so
values, defaults and error messages are the command's. The classes follow
scikit-learn's estimator contract (get_params/set_params, fit returning
self, fitted attributes ending in "_") without importing scikit-learn; they
work in its Pipeline and GridSearchCV when it is installed. Dense inputs go
to the engine without a copy when they are C-contiguous float32."""
from __future__ import annotations

import inspect
import json
import os
import tempfile
from ctypes import byref
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import numpy as np

from . import _lib as L
from ._context import Context, dense_f32, f32p, u32p
from .network import EpochCallback, Error, Network, PathLike, _CsrView, _Datasets


class _Estimator:
    """The scikit-learn estimator contract: every constructor argument is a
    parameter stored under its own name, untouched until fit."""

    _HP: Tuple[str, ...] = ()  # the parameters that are SageMaker hyperparameters
    _estimator_type: Optional[str] = None  # scikit-learn before 1.6 reads this

    @classmethod
    def _param_names(cls) -> list:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind == p.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor's parameters and their values."""
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params: Any) -> "_Estimator":
        """Sets parameters by name (scikit-learn's contract); unknown names are
        a ValueError naming the valid ones."""
        names = self._param_names()
        for k, v in params.items():
            if k not in names:
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__} (valid: {', '.join(names)})")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        args = [f"{n}={v!r}" for n, v in self.get_params().items() if v != sig.parameters[n].default]
        return f"{type(self).__name__}({', '.join(args)})"

    def __sklearn_tags__(self):  # scikit-learn >= 1.6 (only it calls this)
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags, TransformerTags
        kind = self._estimator_type
        return Tags(estimator_type=kind, target_tags=TargetTags(required=kind in ("classifier", "regressor")),
                    transformer_tags=TransformerTags() if hasattr(self, "transform") else None,
                    classifier_tags=ClassifierTags() if kind == "classifier" else None,
                    regressor_tags=RegressorTags() if kind == "regressor" else None)

    def _check_fitted(self, attr: str) -> None:
        if not hasattr(self, attr):
            raise _not_fitted(f"this {type(self).__name__} is not fitted yet: call fit first")

    def _hyperparameters(self, **fixed: Any) -> dict:
        """The SageMaker hyperparameters the parameters set (None: the
        algorithm's default), plus what the data fixes (feature_dim)."""
        hp = {n: getattr(self, n) for n in self._HP if getattr(self, n) is not None}
        for k, v in hp.items():
            if isinstance(v, (np.integer, np.floating, np.bool_)):
                hp[k] = v.item()
        hp.update(fixed)
        return hp

    def _read(self, ctx: Context, reader: Callable, *out: Any, **fixed: Any) -> None:
        """Runs a sten_*_from_hyperparameters reader on the parameters,
        through a temporary hyperparameters file (the reader's own checks,
        with the class name in place of the file in messages)."""
        with tempfile.TemporaryDirectory(prefix="sten-") as tmp:
            path = os.path.join(tmp, "hyperparameters.json")
            with open(path, "w") as f:
                json.dump(self._hyperparameters(**fixed), f)
            with ctx.lock:
                ctx.check(reader(ctx.ctx, path.encode(), *out), rename=(path, f"sten.{type(self).__name__}"))


def _not_fitted(msg: str) -> Exception:
    """scikit-learn's NotFittedError when it is installed (it derives from
    ValueError and AttributeError), else AttributeError."""
    try:
        from sklearn.exceptions import NotFittedError
        return NotFittedError(msg)
    except ImportError:
        return AttributeError(msg)


def _labels(y, n: int, what: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{what} must be 1-D with one value per row ({n}), got shape {y.shape}")
    return y


def _classes(y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The sorted class labels and y as their numbers (0 .. C-1, float32)."""
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.astype(np.float32)


def _accuracy(y_true, y_pred) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _r2(y_true, y_pred) -> float:
    y = np.asarray(y_true, dtype=np.float64)
    ss = float(((y - y.mean()) ** 2).sum())
    res = float(((y - np.asarray(y_pred, dtype=np.float64)) ** 2).sum())
    return 1.0 - res / ss if ss > 0 else 0.0


# ------------------------------------------------------------------ k-means

_KM_HP = ("k", "init_method", "max_iterations", "tol", "mini_batch_size", "epochs", "extra_center_factor",
          "half_life_time_size", "local_lloyd_max_iter", "local_lloyd_init_method", "local_lloyd_num_trials",
          "local_lloyd_tol")


class KMeans(_Estimator):
    """SageMaker's k-means (docs/builtins.md): mini-batch k-means over
    k x extra_center_factor centres, then a weighted Lloyd's down to k.

    Parameters are SageMaker's hyperparameters; None keeps SageMaker's
    default. seed: the `sten train --seed`; threads: engine threads (None:
    all cores; results do not depend on it).

    Fitted attributes: cluster_centers_ (k x features), labels_ and
    inertia_ (the training rows' closest centres and their sum of squared
    distances), n_features_in_, report_ (the fit's stages).
    """

    _HP = _KM_HP
    _estimator_type = "clusterer"

    def __init__(self, *, k: int = 8, init_method: Optional[str] = None, max_iterations: Optional[int] = None,
                 tol: Optional[float] = None, mini_batch_size: Optional[int] = None, epochs: Optional[int] = None,
                 extra_center_factor: Optional[Any] = None, half_life_time_size: Optional[int] = None,
                 local_lloyd_max_iter: Optional[int] = None, local_lloyd_init_method: Optional[str] = None,
                 local_lloyd_num_trials: Optional[Any] = None, local_lloyd_tol: Optional[float] = None,
                 seed: int = 12134, threads: Optional[int] = None):
        self.k = k
        self.init_method = init_method
        self.max_iterations = max_iterations
        self.tol = tol
        self.mini_batch_size = mini_batch_size
        self.epochs = epochs
        self.extra_center_factor = extra_center_factor
        self.half_life_time_size = half_life_time_size
        self.local_lloyd_max_iter = local_lloyd_max_iter
        self.local_lloyd_init_method = local_lloyd_init_method
        self.local_lloyd_num_trials = local_lloyd_num_trials
        self.local_lloyd_tol = local_lloyd_tol
        self.seed = seed
        self.threads = threads

    def fit(self, X, y=None) -> "KMeans":
        """Clusters the rows of X (n x features, dense). y is ignored.

        Raises:
            Error: a hyperparameter out of range (named, as in hyperparameter
                files), or k above the row count.
        """
        A = dense_f32(X)
        ctx = Context(self.threads)
        o = L.KmeansOpts()
        self._read(ctx, L.lib.sten_kmeans_opts_from_hyperparameters, byref(o), None, feature_dim=A.shape[1])
        o.seed = int(self.seed)
        m, rep = L.Kmeans(), L.KmeansReport()
        with ctx.lock:
            ctx.check(L.lib.sten_kmeans_fit(ctx.ctx, f32p(A), A.shape[0], byref(o), byref(m), byref(rep)))
            try:
                self.cluster_centers_ = np.ctypeslib.as_array(m.centers, shape=(m.k, m.dim)).copy()
            finally:
                L.lib.sten_kmeans_free(ctx.ctx, byref(m))
        self.n_features_in_ = A.shape[1]
        self.report_ = {"centers": rep.centers, "passes": rep.passes, "stage_msd": rep.stage_msd,
                        "trials": rep.trials, "local_inertia": rep.local_inertia}
        self.labels_, _, self.inertia_ = self._assign(A)
        return self

    def _assign(self, X) -> Tuple[np.ndarray, np.ndarray, float]:
        self._check_fitted("cluster_centers_")
        A = dense_f32(X, cols=self.n_features_in_)
        C = np.ascontiguousarray(self.cluster_centers_, dtype=np.float32)
        m = L.Kmeans(k=C.shape[0], dim=C.shape[1], centers=f32p(C))
        cluster = np.empty(A.shape[0], np.uint32)
        dist = np.empty(A.shape[0], np.float32)
        ssd = L.c_double()
        ctx = Context(self.threads)
        with ctx.lock:
            ctx.check(L.lib.sten_kmeans_assign(ctx.ctx, byref(m), f32p(A), A.shape[0], u32p(cluster), f32p(dist),
                                               byref(ssd)))
        return cluster.astype(np.int64), dist, float(ssd.value)

    def predict(self, X) -> np.ndarray:
        """The closest centre of each row (ties: the lower index)."""
        return self._assign(X)[0]

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_

    def distance_to_cluster(self, X) -> np.ndarray:
        """The Euclidean distance of each row to its closest centre
        (SageMaker's distance_to_cluster)."""
        return self._assign(X)[1]

    def score(self, X, y=None) -> float:
        """Minus the sum of squared distances to the closest centres
        (scikit-learn's convention: higher is better)."""
        return -self._assign(X)[2]


# ---------------------------------------------------------------------- PCA

class PCA(_Estimator):
    """SageMaker's PCA (docs/builtins.md): the top num_components
    eigenvectors of the sample covariance (regular: LAPACK on the covariance;
    randomized: a randomized range finder).

    mini_batch_size is required by SageMaker; here it defaults to sten's 500
    (rows per streamed block: it changes no result).

    Fitted attributes: components_ (num_components x features, unit rows,
    largest-magnitude entry positive), mean_, explained_variance_ (sample
    variances, n - 1), explained_variance_ratio_, n_features_in_.
    """

    _HP = ("num_components", "algorithm_mode", "subtract_mean", "extra_components", "mini_batch_size")
    _estimator_type = "transformer"

    def __init__(self, *, num_components: int = 2, algorithm_mode: Optional[str] = None,
                 subtract_mean: Optional[bool] = None, extra_components: Optional[int] = None,
                 mini_batch_size: int = 500, seed: int = 12134, threads: Optional[int] = None):
        self.num_components = num_components
        self.algorithm_mode = algorithm_mode
        self.subtract_mean = subtract_mean
        self.extra_components = extra_components
        self.mini_batch_size = mini_batch_size
        self.seed = seed
        self.threads = threads

    def fit(self, X, y=None) -> "PCA":
        """Fits the components on the rows of X (dense). y is ignored."""
        A = dense_f32(X)
        ctx = Context(self.threads)
        o = L.PcaOpts()
        self._read(ctx, L.lib.sten_pca_opts_from_hyperparameters, byref(o), feature_dim=A.shape[1])
        o.seed = int(self.seed)
        m = L.Pca()
        with ctx.lock:
            ctx.check(L.lib.sten_pca_fit(ctx.ctx, f32p(A), A.shape[0], byref(o), byref(m)))
            try:
                self.components_ = np.ctypeslib.as_array(m.components, shape=(m.n_comp, m.dim)).copy()
                self.mean_ = np.ctypeslib.as_array(m.mean, shape=(m.dim,)).copy()
                self.explained_variance_ = np.ctypeslib.as_array(m.eigenvalues, shape=(m.n_comp,)).copy()
                self.total_variance_ = float(m.total_variance)
            finally:
                L.lib.sten_pca_free(ctx.ctx, byref(m))
        self.explained_variance_ratio_ = (self.explained_variance_ / self.total_variance_
                                          if self.total_variance_ > 0 else np.zeros_like(self.explained_variance_))
        self.n_features_in_ = A.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """(X - mean_) components_^T: num_components values per row
        (SageMaker's projection)."""
        self._check_fitted("components_")
        A = dense_f32(X, cols=self.n_features_in_)
        comps = np.ascontiguousarray(self.components_, dtype=np.float32)
        mean = np.ascontiguousarray(self.mean_, dtype=np.float32)
        m = L.Pca(dim=comps.shape[1], n_comp=comps.shape[0], mean=f32p(mean), components=f32p(comps))
        Y = np.empty((A.shape[0], comps.shape[0]), np.float32)
        ctx = Context(self.threads)
        with ctx.lock:
            ctx.check(L.lib.sten_pca_project(ctx.ctx, byref(m), f32p(A), A.shape[0], f32p(Y)))
        return Y

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)


# ---------------------------------------------------------------------- k-NN

class KNN(_Estimator):
    """SageMaker's k-nearest-neighbours (docs/builtins.md): an index of a
    seeded reservoir sample of the training rows, searched exactly
    (faiss.Flat) or over inverted lists (faiss.IVFFlat).

    predictor_type: "classifier" or "regressor". sample_size: SageMaker
    requires it; None here keeps every training row. nprobe: IVF lists
    scanned per query at prediction (None: max(1, nlists / 16)); not a
    SageMaker hyperparameter (`sten predict --nprobe`).

    Classifier labels may be any values numpy can sort: they are numbered
    0 .. C-1 for the engine (classes_ maps back).
    """

    _HP = ("k", "predictor_type", "sample_size", "dimension_reduction_type", "dimension_reduction_target",
           "index_type", "index_metric", "faiss_index_ivf_nlists", "mini_batch_size")

    def __init__(self, *, k: int = 5, predictor_type: str = "classifier", sample_size: Optional[int] = None,
                 dimension_reduction_type: Optional[str] = None, dimension_reduction_target: Optional[int] = None,
                 index_type: Optional[str] = None, index_metric: Optional[str] = None,
                 faiss_index_ivf_nlists: Optional[Any] = None, mini_batch_size: Optional[int] = None,
                 nprobe: Optional[int] = None, seed: int = 12134, threads: Optional[int] = None):
        self.k = k
        self.predictor_type = predictor_type
        self.sample_size = sample_size
        self.dimension_reduction_type = dimension_reduction_type
        self.dimension_reduction_target = dimension_reduction_target
        self.index_type = index_type
        self.index_metric = index_metric
        self.faiss_index_ivf_nlists = faiss_index_ivf_nlists
        self.mini_batch_size = mini_batch_size
        self.nprobe = nprobe
        self.seed = seed
        self.threads = threads

    @property
    def _estimator_type(self) -> str:  # type: ignore[override]
        return "regressor" if self.predictor_type == "regressor" else "classifier"

    def fit(self, X, y) -> "KNN":
        """Indexes the rows of X (dense) with their labels y."""
        A = dense_f32(X)
        y = _labels(y, A.shape[0])
        if self.predictor_type == "regressor":
            codes = np.ascontiguousarray(y, dtype=np.float32)
        else:
            self.classes_, codes = _classes(y)
        ctx = Context(self.threads)
        o = L.KnnOpts()
        self._read(ctx, L.lib.sten_knn_opts_from_hyperparameters, byref(o), feature_dim=A.shape[1],
                   sample_size=self.sample_size if self.sample_size is not None else max(1, A.shape[0]))
        o.seed = int(self.seed)
        self.__del__()  # a refit replaces the index
        self._ctx = ctx
        self._model = L.Knn()
        with ctx.lock:
            ctx.check(L.lib.sten_knn_fit(ctx.ctx, f32p(A), f32p(codes), A.shape[0], byref(o), byref(self._model)))
        self.n_features_in_ = A.shape[1]
        return self

    def __del__(self) -> None:
        m = getattr(self, "_model", None)
        if m is not None and getattr(self, "_ctx", None) is not None:
            L.lib.sten_knn_free(self._ctx.ctx, byref(m))  # zeroes m: a second free is a no-op

    def __getstate__(self) -> dict:  # the index lives in C memory: pickling copies the parameters only
        return {k: v for k, v in self.__dict__.items() if k not in ("_model", "_ctx")}

    def _search(self, X) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        if getattr(self, "_model", None) is None:
            raise _not_fitted(f"this {type(self).__name__} is not fitted yet: call fit first")
        A = dense_f32(X, cols=self.n_features_in_)
        K = int(self._model.opts.k)
        pred = np.empty(A.shape[0], np.float32)
        ids = np.empty((A.shape[0], K), np.uint32)
        dist = np.empty((A.shape[0], K), np.float32)
        with self._ctx.lock:
            self._ctx.check(L.lib.sten_knn_predict(self._ctx.ctx, byref(self._model), f32p(A), A.shape[0],
                                                   int(self.nprobe or 0), f32p(pred), u32p(ids), f32p(dist)))
        return pred, ids, dist

    def kneighbors(self, X) -> Tuple[np.ndarray, np.ndarray]:
        """The k nearest indexed rows of each row of X, nearest first:
        (distances, training row numbers), each rows x k. Distances are the
        index metric's: squared Euclidean (L2), inner product or cosine."""
        _, ids, dist = self._search(X)
        rows = np.ctypeslib.as_array(self._model.rows, shape=(self._model.n,))
        return dist, rows[ids].astype(np.int64)

    def predict(self, X) -> np.ndarray:
        """classifier: the label most of the k neighbours hold (a tie: the one
        whose nearest holder is nearer); regressor: their mean label."""
        pred = self._search(X)[0]
        if self.predictor_type == "regressor":
            return pred
        return self.classes_[pred.astype(np.int64)]

    def predict_proba(self, X) -> np.ndarray:
        """classifier: the share of the k neighbours holding each class
        (columns in classes_ order)."""
        if self.predictor_type == "regressor":
            raise AttributeError("predict_proba is for predictor_type classifier")
        _, ids, _ = self._search(X)
        labels = np.ctypeslib.as_array(self._model.labels, shape=(self._model.n,)).astype(np.int64)
        P = np.zeros((ids.shape[0], len(self.classes_)))
        np.add.at(P, (np.repeat(np.arange(ids.shape[0]), ids.shape[1]), labels[ids].ravel()), 1.0)
        return P / ids.shape[1]

    def score(self, X, y) -> float:
        """Accuracy (classifier) or R^2 (regressor)."""
        p = self.predict(X)
        return _r2(y, p) if self.predictor_type == "regressor" else _accuracy(y, p)


# ----------------------------------------------------------- Linear Learner


def _is_sparse(X) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:
        return False
    return bool(sp.issparse(X))


def _csr32(X):
    """X as CSR (a copy only when it is not CSR already)."""
    return X.tocsr() if X.format != "csr" else X

_LL_HP = ("predictor_type", "num_classes", "loss", "l1", "wd", "learning_rate", "optimizer", "mini_batch_size",
          "epochs", "normalize_data", "normalize_label", "num_models", "binary_classifier_model_selection_criteria",
          "f_beta", "target_recall", "target_precision", "early_stopping_patience", "early_stopping_tolerance",
          "use_bias", "margin", "num_point_for_scaler")


class LinearLearner(_Estimator):
    """SageMaker's linear-learner (docs/builtins.md): num_models linear
    models trained at once by mini-batch SGD or Adam on standardised rows,
    the best by loss kept.

    predictor_type: "binary_classifier", "regressor" or
    "multiclass_classifier" (num_classes: None takes the labels' count).
    Classifier labels may be any sortable values: they are numbered 0 .. C-1
    (binary: classes_[1] is the positive class). fit(X, y, validation=(Xv,
    yv)) passes SageMaker's validation channel (early stopping, model
    selection, the binary threshold).

    X may be dense or a scipy.sparse matrix: sparse rows train and predict
    without being spread out (sten_linear_fit_csr: each step updates only
    its batch's features), so a hashed feature space of millions of columns
    fits.

    Fitted attributes: coef_ (features x outputs, in the input's scale),
    intercept_ (outputs), threshold_ (binary), classes_, report_.
    """

    _HP = _LL_HP

    def __init__(self, *, predictor_type: str = "binary_classifier", num_classes: Optional[int] = None,
                 loss: Optional[str] = None, l1: Optional[Any] = None, wd: Optional[Any] = None,
                 learning_rate: Optional[Any] = None, optimizer: Optional[str] = None,
                 mini_batch_size: Optional[int] = None, epochs: Optional[int] = None,
                 normalize_data: Optional[bool] = None, normalize_label: Optional[Any] = None,
                 num_models: Optional[Any] = None, binary_classifier_model_selection_criteria: Optional[str] = None,
                 f_beta: Optional[float] = None, target_recall: Optional[float] = None,
                 target_precision: Optional[float] = None, early_stopping_patience: Optional[int] = None,
                 early_stopping_tolerance: Optional[float] = None, use_bias: Optional[bool] = None,
                 margin: Optional[float] = None, num_point_for_scaler: Optional[int] = None, seed: int = 12134,
                 threads: Optional[int] = None):
        self.predictor_type = predictor_type
        self.num_classes = num_classes
        self.loss = loss
        self.l1 = l1
        self.wd = wd
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.mini_batch_size = mini_batch_size
        self.epochs = epochs
        self.normalize_data = normalize_data
        self.normalize_label = normalize_label
        self.num_models = num_models
        self.binary_classifier_model_selection_criteria = binary_classifier_model_selection_criteria
        self.f_beta = f_beta
        self.target_recall = target_recall
        self.target_precision = target_precision
        self.early_stopping_patience = early_stopping_patience
        self.early_stopping_tolerance = early_stopping_tolerance
        self.use_bias = use_bias
        self.margin = margin
        self.num_point_for_scaler = num_point_for_scaler
        self.seed = seed
        self.threads = threads

    @property
    def _estimator_type(self) -> str:  # type: ignore[override]
        return "regressor" if self.predictor_type == "regressor" else "classifier"

    def _encode(self, y) -> np.ndarray:
        if self.predictor_type == "regressor":
            return np.ascontiguousarray(y, dtype=np.float32)
        pos = np.searchsorted(self.classes_, y)
        pos = np.minimum(pos, len(self.classes_) - 1)
        if not np.all(self.classes_[pos] == y):
            raise ValueError("validation labels outside the training labels' classes")
        return pos.astype(np.float32)

    def fit(self, X, y, validation: Optional[Tuple[Any, Any]] = None) -> "LinearLearner":
        """Trains on the rows of X (dense, or scipy.sparse: kept sparse) and
        labels y.

        Raises:
            Error: a hyperparameter out of range, a label the predictor does
                not take (named with its channel and row), every model
                diverging.
        """
        sparse = _is_sparse(X)
        A = _csr32(X) if sparse else dense_f32(X)
        y = _labels(y, A.shape[0])
        fixed: Dict[str, Any] = {"feature_dim": A.shape[1]}
        if self.predictor_type != "regressor":
            self.classes_ = np.unique(y)
            if self.predictor_type == "multiclass_classifier" and self.num_classes is None:
                fixed["num_classes"] = len(self.classes_)
        codes = self._encode(y)
        Av = yv = None
        if validation is not None:
            if sparse:
                Av = _csr32(validation[0])
                if Av.shape[1] != A.shape[1]:
                    raise ValueError(f"validation X: {Av.shape[1]} columns, expected {A.shape[1]}")
            else:
                Av = dense_f32(validation[0], "validation X", cols=A.shape[1])
            yv = self._encode(_labels(validation[1], Av.shape[0], "validation y"))
        ctx = Context(self.threads)
        o = L.LinearOpts()
        self._read(ctx, L.lib.sten_linear_opts_from_hyperparameters, byref(o), **fixed)
        o.seed = int(self.seed)
        m, rep = L.Linear(), L.LinearReport()
        with ctx.lock:
            if sparse:
                V = _CsrView(A, valued=True)
                Vv = _CsrView(Av, valued=True) if Av is not None else None
                ctx.check(L.lib.sten_linear_fit_csr(ctx.ctx, byref(V.csr), f32p(codes),
                                                    byref(Vv.csr) if Vv is not None else None, f32p(yv), byref(o),
                                                    byref(m), byref(rep)))
            else:
                ctx.check(L.lib.sten_linear_fit(ctx.ctx, f32p(A), f32p(codes), A.shape[0], f32p(Av), f32p(yv),
                                                0 if Av is None else Av.shape[0], byref(o), byref(m), byref(rep)))
            try:
                self.coef_ = np.ctypeslib.as_array(m.weights, shape=(m.dim, m.outputs)).copy()
                self.intercept_ = np.ctypeslib.as_array(m.bias, shape=(m.outputs,)).copy()
                self.threshold_ = float(m.threshold)
                self._opts = L.LinearOpts.from_buffer_copy(m.opts)  # m is zeroed by the free
            finally:
                L.lib.sten_linear_free(ctx.ctx, byref(m))
        nm = rep.num_models
        self.report_ = {"chosen": rep.chosen, "on_validation": bool(rep.on_validation),
                        "learning_rate": list(rep.learning_rate[:nm]), "wd": list(rep.wd[:nm]),
                        "l1": list(rep.l1[:nm]), "loss": list(rep.loss[:nm]), "epochs": list(rep.epochs[:nm])}
        self.n_features_in_ = A.shape[1]
        return self

    def _predict(self, X) -> Tuple[np.ndarray, np.ndarray]:
        self._check_fitted("coef_")
        sparse = _is_sparse(X)
        A = _csr32(X) if sparse else dense_f32(X, cols=self.n_features_in_)
        if sparse and A.shape[1] != self.n_features_in_:
            raise ValueError(f"X: {A.shape[1]} columns, the model has {self.n_features_in_}")
        W = np.ascontiguousarray(self.coef_, dtype=np.float32)
        b = np.ascontiguousarray(self.intercept_, dtype=np.float32)
        m = L.Linear(dim=W.shape[0], outputs=W.shape[1], weights=f32p(W), bias=f32p(b), threshold=self.threshold_,
                     opts=self._opts)
        scores = np.empty((A.shape[0], W.shape[1]), np.float32)
        labels = np.empty(A.shape[0], np.float32)
        ctx = Context(self.threads)
        lab = f32p(labels) if self.predictor_type != "regressor" else None
        with ctx.lock:
            if sparse:
                V = _CsrView(A, valued=True)
                ctx.check(L.lib.sten_linear_predict_csr(ctx.ctx, byref(m), byref(V.csr), f32p(scores), lab))
            else:
                ctx.check(L.lib.sten_linear_predict(ctx.ctx, byref(m), f32p(A), A.shape[0], f32p(scores), lab))
        return scores, labels

    def decision_function(self, X) -> np.ndarray:
        """SageMaker's score: the probability (logistic) or margin (hinge)
        for binary, the softmax probabilities for multiclass, the value for
        the regressor."""
        s = self._predict(X)[0]
        return s[:, 0] if s.shape[1] == 1 else s

    def predict(self, X) -> np.ndarray:
        """The predicted label (binary: score >= threshold_) or value."""
        scores, labels = self._predict(X)
        if self.predictor_type == "regressor":
            return scores[:, 0]
        return self.classes_[labels.astype(np.int64)]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in classes_ order (binary: only with
        the logistic loss, whose score is a probability)."""
        if self.predictor_type == "regressor":
            raise AttributeError("predict_proba is for the classifiers")
        s = self._predict(X)[0]
        if self.predictor_type == "binary_classifier":
            if self._opts.loss not in (0, 1):  # auto or logistic
                raise AttributeError("predict_proba needs the logistic loss (hinge_loss scores are margins)")
            return np.column_stack([1 - s[:, 0], s[:, 0]])
        return s

    def score(self, X, y) -> float:
        """Accuracy (classifiers) or R^2 (regressor)."""
        p = self.predict(X)
        return _r2(y, p) if self.predictor_type == "regressor" else _accuracy(y, p)


# -------------------------------------------------- Factorization Machines

_FM_HP = ("num_factors", "predictor_type", "epochs", "mini_batch_size", "bias_lr", "linear_lr", "factors_lr",
          "bias_wd", "linear_wd", "factors_wd", "bias_init_method", "linear_init_method", "factors_init_method",
          "bias_init_sigma", "linear_init_sigma", "factors_init_sigma", "bias_init_scale", "linear_init_scale",
          "factors_init_scale", "bias_init_value", "linear_init_value", "factors_init_value", "clip_gradient",
          "eps", "rescale_grad")


class FactorizationMachines(_Estimator):
    """SageMaker's Factorization Machines as a sten network (docs/fm.md): a
    sparse input of feature_dim features into one FactorizationMachine
    output, trained with Adam; the same network `sten train --algorithm
    factorization-machines` trains, bit for bit for the same data, seed and
    threads.

    X: a scipy.sparse CSR matrix (its values are the features'; its arrays go
    to the engine as pointers) or a dense array (converted to CSR once).
    predictor_type: "binary_classifier" (labels any two sortable values,
    classes_[1] positive) or "regressor". Every other parameter is SageMaker's
    hyperparameter of that name (None: its default). callbacks: as
    Network.fit's, per epoch.

    Fitted attributes: network_ (the sten Network: save() writes the model
    `sten predict --data` scores), history_ (EpochStats per epoch), classes_.
    """

    _HP = _FM_HP

    def __init__(self, *, num_factors: int = 8, predictor_type: str = "binary_classifier",
                 epochs: Optional[int] = None, mini_batch_size: Optional[int] = None,
                 bias_lr: Optional[float] = None, linear_lr: Optional[float] = None,
                 factors_lr: Optional[float] = None, bias_wd: Optional[float] = None,
                 linear_wd: Optional[float] = None, factors_wd: Optional[float] = None,
                 bias_init_method: Optional[str] = None, linear_init_method: Optional[str] = None,
                 factors_init_method: Optional[str] = None, bias_init_sigma: Optional[float] = None,
                 linear_init_sigma: Optional[float] = None, factors_init_sigma: Optional[float] = None,
                 bias_init_scale: Optional[float] = None, linear_init_scale: Optional[float] = None,
                 factors_init_scale: Optional[float] = None, bias_init_value: Optional[float] = None,
                 linear_init_value: Optional[float] = None, factors_init_value: Optional[float] = None,
                 clip_gradient: Optional[float] = None, eps: Optional[float] = None,
                 rescale_grad: Optional[float] = None, seed: int = 12134, threads: Optional[int] = None,
                 callbacks: Optional[Iterable[EpochCallback]] = None):
        self.num_factors = num_factors
        self.predictor_type = predictor_type
        self.epochs = epochs
        self.mini_batch_size = mini_batch_size
        self.bias_lr = bias_lr
        self.linear_lr = linear_lr
        self.factors_lr = factors_lr
        self.bias_wd = bias_wd
        self.linear_wd = linear_wd
        self.factors_wd = factors_wd
        self.bias_init_method = bias_init_method
        self.linear_init_method = linear_init_method
        self.factors_init_method = factors_init_method
        self.bias_init_sigma = bias_init_sigma
        self.linear_init_sigma = linear_init_sigma
        self.factors_init_sigma = factors_init_sigma
        self.bias_init_scale = bias_init_scale
        self.linear_init_scale = linear_init_scale
        self.factors_init_scale = factors_init_scale
        self.bias_init_value = bias_init_value
        self.linear_init_value = linear_init_value
        self.factors_init_value = factors_init_value
        self.clip_gradient = clip_gradient
        self.eps = eps
        self.rescale_grad = rescale_grad
        self.seed = seed
        self.threads = threads
        self.callbacks = callbacks

    @property
    def _estimator_type(self) -> str:  # type: ignore[override]
        return "regressor" if self.predictor_type == "regressor" else "classifier"

    @staticmethod
    def _csr(X):
        import scipy.sparse as sp
        if sp.issparse(X):
            return X.tocsr() if X.format != "csr" else X
        A = np.asarray(X)
        if A.ndim != 2:
            raise ValueError(f"X: expected a 2-D matrix (rows x features), got shape {A.shape}")
        return sp.csr_matrix(A.astype(np.float32, copy=False))

    def fit(self, X, y) -> "FactorizationMachines":
        """Trains on the rows of X with labels y.

        Raises:
            Error: a hyperparameter out of range (named), or training failed.
            ValueError: a binary_classifier with other than two classes.
        """
        Xc = self._csr(X)
        y = _labels(y, Xc.shape[0])
        if self.predictor_type == "regressor":
            target = np.ascontiguousarray(y, dtype=np.float32)
        else:
            self.classes_, target = _classes(y)
            if len(self.classes_) != 2:
                raise ValueError(f"a binary_classifier needs labels of two classes, got {len(self.classes_)}")
        if Xc.shape[0] == 0:
            raise ValueError("X has no rows")
        net = Network(self.threads)
        desc = L.POINTER(L.NetDesc)()
        hp = self._hyperparameters(feature_dim=int(Xc.shape[1]))
        with tempfile.TemporaryDirectory(prefix="sten-") as tmp:
            path = os.path.join(tmp, "hyperparameters.json")
            with open(path, "w") as f:
                json.dump(hp, f)
            try:
                net._check(L.lib.sten_fm_desc_from_hyperparameters(net._ctx, path.encode(), byref(desc)))
            except Error as e:
                raise Error(e.message.replace(path, "sten.FactorizationMachines"), e.status) from None
        net._desc = desc
        V = _CsrView(Xc, valued=True)
        opts = L.TrainOpts()
        opts.t = desc.contents.training
        opts.t.seed = int(self.seed)
        net._train(_Datasets({b"fm_input": (V, int(Xc.shape[1]))}, {b"fm_label": target}), opts, self.callbacks,
                   keep=[])
        net.valued_input = True
        net._n_in, net._n_out = int(Xc.shape[1]), 1
        self.network_ = net
        self.history_ = net.history
        self.n_features_in_ = int(Xc.shape[1])
        return self

    def decision_function(self, X) -> np.ndarray:
        """The network's output per row: the probability of classes_[1]
        (binary_classifier) or the predicted value (regressor)."""
        self._check_fitted("network_")
        Xc = self._csr(X)
        if Xc.shape[1] > self.n_features_in_:
            raise ValueError(f"X has {Xc.shape[1]} features; the model was fit on {self.n_features_in_}")
        return self.network_.embed(Xc, layer=None)[:, 0]

    def predict(self, X) -> np.ndarray:
        """The predicted value, or class (score >= 0.5 is classes_[1])."""
        s = self.decision_function(X)
        if self.predictor_type == "regressor":
            return s
        return self.classes_[(s >= 0.5).astype(np.int64)]

    def predict_proba(self, X) -> np.ndarray:
        """binary_classifier: [P(classes_[0]), P(classes_[1])] per row."""
        if self.predictor_type == "regressor":
            raise AttributeError("predict_proba is for predictor_type binary_classifier")
        s = self.decision_function(X)
        return np.column_stack([1 - s, s])

    def score(self, X, y) -> float:
        """Accuracy (binary_classifier) or R^2 (regressor)."""
        p = self.predict(X)
        return _r2(y, p) if self.predictor_type == "regressor" else _accuracy(y, p)

    def save(self, path: PathLike) -> None:
        """Writes the model (a sten network file; `sten predict -n PATH --data
        ...` scores with it)."""
        self._check_fitted("network_")
        self.network_.save(path)
