"""sten — NumPy/SciPy bindings of libsten, a recommender engine that trains
DSSTNE-style networks (docs/python.md).

    import numpy as np, scipy.sparse as sp, sten
    net = sten.Network.from_config("ae.json")
    net.fit(X_csr, epochs=5)
    ids, scores = net.recommend(np.arange(10), X_csr[:10], N=10)
"""
from ._lib import path as library_path
from .network import EpochStats, Error, Network
from .estimators import KMeans, KNN, PCA, FactorizationMachines, LinearLearner
from .data import Interactions, Split, evaluate, split, synth
from . import _lib


def version() -> str:
    """Version of the libsten this package loaded."""
    return _lib.lib.sten_version().decode()


__all__ = ["Network", "Error", "EpochStats", "version", "library_path", "FactorizationMachines", "KMeans", "PCA",
           "KNN", "LinearLearner", "evaluate", "synth", "split", "Interactions", "Split"]
__version__ = "0.1.0"
