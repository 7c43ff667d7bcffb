"""_lib.py — finds libsten and declares the part of include/sten.h the package
calls, through ctypes (no compiler at install time). It mirrors the public
structs it passes by value or by pointer; tests/py_abi.c prints their C sizes
and offsets and the tests compare them with these, so a header change that
moves a field fails the suite instead of corrupting memory (the structs
beyond those, MORE_STRUCTS, are checked by python/tests/test_abi_more.py). It
does not wrap anything: sten/network.py, estimators.py and data.py do."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (POINTER, c_bool, c_char, c_char_p, c_double, c_float, c_int, c_size_t, c_uint32,
                    c_uint64, c_void_p)
from pathlib import Path
from typing import Optional

NAME_MAX = 128  # STEN_NAME_MAX
MAX_SKIPS = 8
MAX_SHARED = 4
LAYER_SETTINGS = 16

# sten_layer_kind
LAYER_INPUT, LAYER_HIDDEN, LAYER_OUTPUT, LAYER_TARGET = 0, 1, 2, 3
# dataset attribute bits
DS_SPARSE, DS_BOOLEAN = 1, 2


class Csr(ctypes.Structure):
    """sten_csr: B rows of a sparse matrix; val NULL for boolean data."""
    _fields_ = [("rows", c_uint32), ("cols", c_uint32), ("nnz", c_uint64), ("cap", c_uint64),
                ("row_cap", c_uint32), ("row_ptr", POINTER(c_uint64)), ("col", POINTER(c_uint32)),
                ("val", POINTER(c_float))]


class Fingerprint(ctypes.Structure):
    _fields_ = [("entries", c_uint32), ("hash", c_uint64)]


class Dataset(ctypes.Structure):
    """sten_dataset."""
    _fields_ = [("name", c_char_p), ("attributes", c_uint32), ("dtype", c_uint32), ("dims", c_uint32),
                ("width", c_uint32), ("height", c_uint32), ("length", c_uint32), ("examples", c_uint64),
                ("unique", c_uint64), ("sparse", Csr), ("dense", POINTER(c_float)),
                ("weight", POINTER(c_float)), ("index", POINTER(c_uint32)), ("features", Fingerprint),
                ("samples", Fingerprint)]


class SharedDesc(ctypes.Structure):
    _fields_ = [("input_layer", c_char * NAME_MAX), ("source_input_layer", c_char * NAME_MAX),
                ("source_output_layer", c_char * NAME_MAX), ("transposed", c_bool)]


class LayerDesc(ctypes.Structure):
    """sten_layer_desc (read only here)."""
    _fields_ = [("name", c_char * NAME_MAX), ("kind", c_int), ("type", c_int), ("N", c_uint32),
                ("N_auto", c_bool), ("sparse", c_bool), ("p_dropout", c_float),
                ("dataset", c_char * NAME_MAX), ("n_sources", c_uint32), ("sources", c_void_p),
                ("n_skips", c_uint32), ("skips", (c_char * NAME_MAX) * MAX_SKIPS), ("activation", c_int),
                ("relu_slope", c_float), ("elu_alpha", c_float), ("selu_lambda", c_float),
                ("weight_norm", c_float), ("delta_norm", c_float), ("init", c_int), ("init_scale", c_float),
                ("init_bias", c_float), ("sparseness_p", c_float), ("sparseness_beta", c_float),
                ("n_shared", c_uint32), ("shared", SharedDesc * MAX_SHARED),
                ("setting", c_float * LAYER_SETTINGS), ("features", Fingerprint), ("line", c_int),
                ("column", c_int)]


class TrainDesc(ctypes.Structure):
    """sten_train_desc: the config's Training object."""
    _fields_ = [("optimizer", c_int), ("alpha", c_float), ("lambda_", c_float), ("lambda1", c_float),
                ("mu", c_float), ("mu1", c_float), ("epochs", c_uint32), ("batch_size", c_uint32),
                ("seed", c_uint64), ("schedule", c_int), ("schedule_interval", c_uint32),
                ("schedule_multiplier", c_float), ("checkpoint_interval", c_uint32), ("eps", c_float),
                ("rescale_grad", c_float), ("set", c_uint32)]


class NetDesc(ctypes.Structure):
    """sten_net_desc (read only here)."""
    _fields_ = [("name", c_char * NAME_MAX), ("version", c_float), ("autoencoder", c_bool),
                ("shuffle_indices", c_bool), ("loss", c_int)] + \
               [(f, c_float) for f in ("sparseness_p", "sparseness_beta", "denoising_p", "delta_boost_one",
                                       "delta_boost_zero", "smce_one_target", "smce_zero_target",
                                       "smce_one_scale", "smce_zero_scale", "relu_slope", "elu_alpha",
                                       "selu_lambda", "decay")] + \
               [("n_layers", c_uint32), ("layers", POINTER(LayerDesc)), ("training", TrainDesc),
                ("source", c_char * NAME_MAX)]


class EpochStats(ctypes.Structure):
    """sten_epoch_stats."""
    _fields_ = [("epoch", c_uint32), ("loss", c_double), ("reg", c_double), ("seconds", c_double),
                ("examples_per_s", c_double), ("alpha", c_float), ("valid_loss", c_double),
                ("skipped", c_uint64), ("valid_recall", c_double), ("valid_ndcg", c_double),
                ("best", ctypes.c_bool)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
EPOCH_DONE_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(EpochStats))
LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class TrainOpts(ctypes.Structure):
    """sten_train_opts."""
    _fields_ = [("t", TrainDesc), ("first_epoch", c_uint32), ("valid", POINTER(Dataset)),
                ("n_valid", c_size_t), ("patience", c_uint32), ("progress_every", c_uint32),
                ("progress", PROGRESS_FN), ("epoch_done", EPOCH_DONE_FN), ("user", c_void_p),
                ("comm", c_void_p), ("parallel", ctypes.c_int), ("rank_k", c_uint32),
                ("select", ctypes.c_int), ("keep_best", ctypes.c_bool)]


# The structs tests/py_abi.c reports, by their C names.
STRUCTS = {"sten_csr": Csr, "sten_fingerprint": Fingerprint, "sten_dataset": Dataset,
           "sten_shared_desc": SharedDesc, "sten_layer_desc": LayerDesc, "sten_train_desc": TrainDesc,
           "sten_net_desc": NetDesc, "sten_epoch_stats": EpochStats, "sten_train_opts": TrainOpts}


def _candidates() -> list:
    """Where libsten may be, in the order tried (docs/python.md)."""
    here = Path(__file__).resolve().parent
    out = []
    env = os.environ.get("STEN_LIBRARY")
    if env:
        return [env]  # an explicit choice is never second-guessed
    out += sorted(str(p) for p in here.glob("libsten.so*"))  # bundled by pip install
    for build in ("build", "build-py"):  # the source tree's build, for development
        p = here.parent.parent / build / "libsten.so"
        if p.exists():
            out.append(str(p))
    found = ctypes.util.find_library("sten")
    if found:
        out.append(found)
    out.append("libsten.so.0")
    return out


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("sten: cannot load libsten (set STEN_LIBRARY to its path, or build it: "
                      "cmake -S . -B build && cmake --build build): " + "; ".join(errors))


lib = _load()
path: Optional[str] = getattr(lib, "_name", None)

ctx_p = c_void_p
net_p = c_void_p
ws_p = c_void_p


def _decl(name: str, restype, *argtypes) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_decl("sten_version", c_char_p)
_decl("sten_status_name", c_char_p, c_int)
_decl("sten_status_str", c_char_p, c_int)
_decl("sten_ctx_init", c_int, POINTER(ctx_p))
_decl("sten_ctx_free", None, ctx_p)
_decl("sten_ctx_error", c_char_p, ctx_p)
_decl("sten_ctx_error_status", c_int, ctx_p)
_decl("sten_ctx_clear_error", None, ctx_p)
_decl("sten_ctx_set_threads", None, ctx_p, c_int)
_decl("sten_ctx_threads", c_int, ctx_p)
_decl("sten_ctx_set_log", None, ctx_p, LOG_FN, c_void_p, c_int)
_decl("sten_round_width", c_uint32, c_uint32)
_decl("sten_csr_validate", c_int, ctx_p, POINTER(Csr))
_decl("sten_net_desc_load", c_int, ctx_p, c_char_p, POINTER(POINTER(NetDesc)))
_decl("sten_net_desc_free", None, ctx_p, POINTER(NetDesc))
_decl("sten_model_read_desc", c_int, ctx_p, c_char_p, POINTER(POINTER(NetDesc)))
_decl("sten_net_build", c_int, ctx_p, POINTER(NetDesc), POINTER(Dataset), c_size_t, c_uint32, POINTER(net_p))
_decl("sten_net_free", None, ctx_p, net_p)
_decl("sten_net_init_weights", c_int, ctx_p, net_p, c_uint64)
_decl("sten_net_description", POINTER(NetDesc), net_p)
_decl("sten_net_epoch", c_uint32, net_p)
_decl("sten_net_save", c_int, ctx_p, net_p, c_char_p)
_decl("sten_net_load", c_int, ctx_p, c_char_p, POINTER(Dataset), c_size_t, c_uint32, c_bool, POINTER(net_p))
_decl("sten_train_desc_resolve", None, POINTER(TrainDesc))
_decl("sten_net_train", c_int, ctx_p, net_p, POINTER(TrainOpts))
_decl("sten_workspace_new_rows", c_int, ctx_p, net_p, c_uint32, c_uint64, c_bool, POINTER(ws_p))
_decl("sten_workspace_free", None, ctx_p, ws_p)
_decl("sten_net_recommend_rows", c_int, ctx_p, net_p, ws_p, POINTER(Csr), c_uint32, c_uint32, POINTER(Csr),
      POINTER(c_uint32), POINTER(c_float), POINTER(c_uint32))


# --------------------------------------------------------------------------
# Beyond the networks: embeddings, evaluation, data tools and the built-in
# algorithms (sten/network.py, sten/data.py, sten/estimators.py). tests/py_abi.c
# does not print these structs yet; python/tests/test_abi_more.py compiles
# the same check from the header with the C compiler instead.

class Interaction(ctypes.Structure):
    """sten_interaction: one record of an interaction log."""
    _fields_ = [("user", c_uint32), ("item", c_uint32), ("rating", c_float), ("timestamp", ctypes.c_int64)]


class Interactions(ctypes.Structure):
    """sten_interactions: x owned by whoever filled it (see sten/data.py)."""
    _fields_ = [("x", POINTER(Interaction)), ("n", c_uint64), ("cap", c_uint64), ("users", c_void_p),
                ("items", c_void_p)]


class SynthOpts(ctypes.Structure):
    _fields_ = [("users", c_uint32), ("items", c_uint32), ("interactions", c_uint64), ("clusters", c_uint32),
                ("seed", c_uint64), ("popularity_exponent", c_float), ("taste", c_float)]


class SplitOpts(ctypes.Structure):
    _fields_ = [("protocol", c_int), ("fraction", c_double), ("last", c_uint64), ("cut", c_double),
                ("seed", c_uint64), ("valid_users", c_uint32), ("test_users", c_uint32), ("positive", c_double)]


class SplitStats(ctypes.Structure):
    _fields_ = [("users", c_uint32), ("valid_users", c_uint32), ("test_users", c_uint32)]


class RankMetrics(ctypes.Structure):
    _fields_ = [("k", c_uint32), ("precision", c_double), ("recall", c_double), ("recall_trunc", c_double),
                ("ndcg", c_double), ("map", c_double), ("hit_rate", c_double)]


class ScoreMetrics(ctypes.Structure):
    _fields_ = [("rmse", c_double), ("mae", c_double), ("auc", c_double), ("logloss", c_double),
                ("accuracy", c_double)]


class KmeansOpts(ctypes.Structure):
    _fields_ = [("k", c_uint32), ("feature_dim", c_uint32), ("init", c_int), ("max_iterations", c_uint32),
                ("tol", c_float), ("mini_batch_size", c_uint32), ("epochs", c_uint32),
                ("extra_center_factor", c_uint32), ("half_life_time_size", c_uint32),
                ("local_lloyd_max_iter", c_uint32), ("local_lloyd_init", c_int),
                ("local_lloyd_num_trials", c_uint32), ("local_lloyd_tol", c_float), ("seed", c_uint64)]


class Kmeans(ctypes.Structure):
    _fields_ = [("k", c_uint32), ("dim", c_uint32), ("centers", POINTER(c_float)), ("opts", KmeansOpts)]


class KmeansReport(ctypes.Structure):
    _fields_ = [("centers", c_uint32), ("passes", c_uint32), ("stage_msd", c_double), ("trials", c_uint32),
                ("local_inertia", c_double)]


class PcaOpts(ctypes.Structure):
    _fields_ = [("num_components", c_uint32), ("feature_dim", c_uint32), ("mode", c_int),
                ("subtract_mean", c_bool), ("extra_components", ctypes.c_int32), ("mini_batch_size", c_uint32),
                ("power_iterations", c_uint32), ("seed", c_uint64)]


class Pca(ctypes.Structure):
    _fields_ = [("dim", c_uint32), ("n_comp", c_uint32), ("mean", POINTER(c_float)),
                ("components", POINTER(c_float)), ("eigenvalues", POINTER(c_float)),
                ("total_variance", c_double), ("rows", c_uint64), ("opts", PcaOpts)]


class KnnOpts(ctypes.Structure):
    _fields_ = [("feature_dim", c_uint32), ("k", c_uint32), ("predictor_type", c_int), ("sample_size", c_uint32),
                ("dimension_reduction_type", c_int), ("dimension_reduction_target", c_uint32),
                ("index_type", c_int), ("index_metric", c_int), ("ivf_nlists", c_uint32), ("pq_m", c_uint32),
                ("mini_batch_size", c_uint32), ("seed", c_uint64)]


class Knn(ctypes.Structure):
    _fields_ = [("dim", c_uint32), ("index_dim", c_uint32), ("n", c_uint32), ("nlists", c_uint32),
                ("points", POINTER(c_float)), ("labels", POINTER(c_float)), ("rows", POINTER(c_uint32)),
                ("projection", POINTER(c_float)), ("centroids", POINTER(c_float)),
                ("list_start", POINTER(c_uint32)), ("norms", POINTER(c_float)), ("train_rows", c_uint64),
                ("opts", KnnOpts), ("pq_m", c_uint32), ("pq_ksub", c_uint32),
                ("pq_centroids", POINTER(c_float)), ("codes", POINTER(ctypes.c_uint8))]


LINEAR_MAX_MODELS = 64  # STEN_LINEAR_MAX_MODELS


class LinearOpts(ctypes.Structure):
    _fields_ = [("feature_dim", c_uint32), ("predictor_type", c_int), ("num_classes", c_uint32), ("loss", c_int),
                ("l1", c_float), ("wd", c_float), ("learning_rate", c_float), ("optimizer", c_int),
                ("mini_batch_size", c_uint32), ("epochs", c_uint32), ("normalize_data", c_bool),
                ("normalize_label", c_int), ("num_models", c_uint32), ("selection", c_int), ("beta", c_float),
                ("target_recall", c_float), ("target_precision", c_float), ("early_stopping_patience", c_uint32),
                ("early_stopping_tolerance", c_float), ("use_bias", c_bool), ("margin", c_float),
                ("num_point_for_scaler", c_uint32), ("seed", c_uint64)]


class Linear(ctypes.Structure):
    _fields_ = [("dim", c_uint32), ("outputs", c_uint32), ("weights", POINTER(c_float)), ("bias", POINTER(c_float)),
                ("threshold", c_float), ("opts", LinearOpts)]


class LinearReport(ctypes.Structure):
    _fields_ = [("num_models", c_uint32), ("chosen", c_uint32), ("on_validation", c_bool),
                ("learning_rate", c_float * LINEAR_MAX_MODELS), ("wd", c_float * LINEAR_MAX_MODELS),
                ("l1", c_float * LINEAR_MAX_MODELS), ("loss", c_double * LINEAR_MAX_MODELS),
                ("epochs", c_uint32 * LINEAR_MAX_MODELS)]


# The structs python/tests/test_abi_more.py checks against the header, by C name.
MORE_STRUCTS = {"sten_interaction": Interaction, "sten_interactions": Interactions, "sten_synth_opts": SynthOpts,
                "sten_split_opts": SplitOpts, "sten_split_stats": SplitStats, "sten_rank_metrics": RankMetrics,
                "sten_score_metrics": ScoreMetrics, "sten_kmeans_opts": KmeansOpts, "sten_kmeans": Kmeans,
                "sten_kmeans_report": KmeansReport, "sten_pca_opts": PcaOpts, "sten_pca": Pca,
                "sten_knn_opts": KnnOpts, "sten_knn": Knn, "sten_linear_opts": LinearOpts, "sten_linear": Linear,
                "sten_linear_report": LinearReport}

eval_p = c_void_p
index_p = c_void_p
F32P = POINTER(c_float)
U32P = POINTER(c_uint32)

_decl("sten_net_desc_parse", c_int, ctx_p, c_char_p, c_size_t, c_char_p, POINTER(POINTER(NetDesc)))
_decl("sten_fm_desc_from_hyperparameters", c_int, ctx_p, c_char_p, POINTER(POINTER(NetDesc)))
_decl("sten_net_infer_rows", c_int, ctx_p, net_p, ws_p, POINTER(Csr), c_char_p, POINTER(F32P), U32P)
_decl("sten_eval_new", c_int, ctx_p, U32P, c_uint32, c_uint32, POINTER(eval_p))
_decl("sten_eval_add", c_int, ctx_p, eval_p, U32P, c_uint32, U32P, c_uint32)
_decl("sten_eval_result", None, eval_p, POINTER(RankMetrics), POINTER(c_double), POINTER(c_double),
      POINTER(c_uint64), POINTER(c_uint64))
_decl("sten_eval_free", None, ctx_p, eval_p)
_decl("sten_eval_scores", c_int, ctx_p, F32P, F32P, c_size_t, POINTER(ScoreMetrics))
_decl("sten_synth_defaults", SynthOpts)
_decl("sten_synth", c_int, ctx_p, POINTER(SynthOpts), POINTER(Interactions))
_decl("sten_interactions_free", None, ctx_p, POINTER(Interactions))
_decl("sten_index_new", c_int, ctx_p, POINTER(index_p))
_decl("sten_index_free", None, ctx_p, index_p)
_decl("sten_index_add", c_int, ctx_p, index_p, c_char_p, c_size_t, U32P)
_decl("sten_split_defaults", SplitOpts)
_decl("sten_split", c_int, ctx_p, POINTER(SplitOpts), POINTER(Interactions), POINTER(ctypes.c_uint8),
      POINTER(SplitStats))
_decl("sten_kmeans_opts_from_hyperparameters", c_int, ctx_p, c_char_p, POINTER(KmeansOpts), POINTER(ctypes.c_uint))
_decl("sten_kmeans_fit", c_int, ctx_p, F32P, c_uint64, POINTER(KmeansOpts), POINTER(Kmeans), POINTER(KmeansReport))
_decl("sten_kmeans_assign", c_int, ctx_p, POINTER(Kmeans), F32P, c_uint64, U32P, F32P, POINTER(c_double))
_decl("sten_kmeans_free", None, ctx_p, POINTER(Kmeans))
_decl("sten_pca_opts_from_hyperparameters", c_int, ctx_p, c_char_p, POINTER(PcaOpts))
_decl("sten_pca_fit", c_int, ctx_p, F32P, c_uint64, POINTER(PcaOpts), POINTER(Pca))
_decl("sten_pca_project", c_int, ctx_p, POINTER(Pca), F32P, c_uint64, F32P)
_decl("sten_pca_free", None, ctx_p, POINTER(Pca))
_decl("sten_knn_opts_from_hyperparameters", c_int, ctx_p, c_char_p, POINTER(KnnOpts))
_decl("sten_knn_fit", c_int, ctx_p, F32P, F32P, c_uint64, POINTER(KnnOpts), POINTER(Knn))
_decl("sten_knn_predict", c_int, ctx_p, POINTER(Knn), F32P, c_uint64, c_uint32, F32P, U32P, F32P)
_decl("sten_knn_free", None, ctx_p, POINTER(Knn))
_decl("sten_linear_opts_from_hyperparameters", c_int, ctx_p, c_char_p, POINTER(LinearOpts))
_decl("sten_linear_fit", c_int, ctx_p, F32P, F32P, c_uint64, F32P, F32P, c_uint64, POINTER(LinearOpts),
      POINTER(Linear), POINTER(LinearReport))
_decl("sten_linear_predict", c_int, ctx_p, POINTER(Linear), F32P, c_uint64, F32P, F32P)
_decl("sten_linear_fit_csr", c_int, ctx_p, POINTER(Csr), F32P, POINTER(Csr), F32P, POINTER(LinearOpts),
      POINTER(Linear), POINTER(LinearReport))
_decl("sten_linear_predict_csr", c_int, ctx_p, POINTER(Linear), POINTER(Csr), F32P, F32P)
_decl("sten_linear_free", None, ctx_p, POINTER(Linear))
