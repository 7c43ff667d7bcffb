"""_netcdf.py — reads attributes and float variables of a NetCDF file through
the libnetcdf that libsten itself links (ctypes, nothing to install), for
the parts of a model the C API does not hand out (a layer's weights). It
reads only; sten writes every file through libsten."""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
from ctypes import POINTER, byref, c_char_p, c_float, c_int, c_size_t, c_ulonglong
from typing import Optional

import numpy as np

NC_GLOBAL = -1
_lock = threading.Lock()  # libnetcdf is not thread-safe
_lib: Optional[ctypes.CDLL] = None


def _load() -> ctypes.CDLL:
    """The libnetcdf already in the process (libsten's), else the system's."""
    global _lib
    if _lib is not None:
        return _lib
    path = None
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if "libnetcdf.so" in line:
                    path = line.split()[-1]
                    break
    except OSError:
        pass
    path = path or ctypes.util.find_library("netcdf")
    if not path:
        raise OSError("cannot find libnetcdf (the library libsten reads models with)")
    lib = ctypes.CDLL(path)
    for name, args in {"nc_open": [c_char_p, c_int, POINTER(c_int)], "nc_close": [c_int],
                       "nc_inq_attlen": [c_int, c_int, c_char_p, POINTER(c_size_t)],
                       "nc_get_att_text": [c_int, c_int, c_char_p, c_char_p],
                       "nc_get_att_ulonglong": [c_int, c_int, c_char_p, POINTER(c_ulonglong)],
                       "nc_inq_varid": [c_int, c_char_p, POINTER(c_int)],
                       "nc_inq_varndims": [c_int, c_int, POINTER(c_int)],
                       "nc_inq_vardimid": [c_int, c_int, POINTER(c_int)],
                       "nc_inq_dimlen": [c_int, c_int, POINTER(c_size_t)],
                       "nc_get_var_float": [c_int, c_int, POINTER(c_float)]}.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, c_int
    lib.nc_strerror.argtypes, lib.nc_strerror.restype = [c_int], c_char_p
    _lib = lib
    return lib


class File:
    """An open NetCDF file (use as a context manager); errors are OSError
    naming the file, the object and libnetcdf's reason."""

    def __init__(self, path: str):
        self.path = path
        self.lib = _load()
        self.nc = c_int(-1)
        _lock.acquire()
        try:
            self._ok(self.lib.nc_open(path.encode(), 0, byref(self.nc)), "opening")
        except BaseException:
            _lock.release()
            raise

    def __enter__(self) -> "File":
        return self

    def __exit__(self, *exc) -> None:
        self.lib.nc_close(self.nc)
        _lock.release()

    def _ok(self, rc: int, what: str) -> None:
        if rc:
            raise OSError(f"{self.path}: {what}: {self.lib.nc_strerror(rc).decode()}")

    def has_att(self, name: str) -> bool:
        n = c_size_t()
        return self.lib.nc_inq_attlen(self.nc, NC_GLOBAL, name.encode(), byref(n)) == 0

    def has_var(self, name: str) -> bool:
        vid = c_int()
        return self.lib.nc_inq_varid(self.nc, name.encode(), byref(vid)) == 0

    def att_text(self, name: str) -> str:
        n = c_size_t()
        self._ok(self.lib.nc_inq_attlen(self.nc, NC_GLOBAL, name.encode(), byref(n)), f"attribute {name}")
        buf = ctypes.create_string_buffer(n.value + 1)
        self._ok(self.lib.nc_get_att_text(self.nc, NC_GLOBAL, name.encode(), buf), f"attribute {name}")
        return buf.value.decode()

    def att_u64(self, name: str) -> int:
        v = c_ulonglong()
        self._ok(self.lib.nc_get_att_ulonglong(self.nc, NC_GLOBAL, name.encode(), byref(v)), f"attribute {name}")
        return int(v.value)

    def var_float(self, name: str) -> np.ndarray:
        """A variable's values as one flat float32 array."""
        vid, nd = c_int(), c_int()
        self._ok(self.lib.nc_inq_varid(self.nc, name.encode(), byref(vid)), f"variable {name}")
        self._ok(self.lib.nc_inq_varndims(self.nc, vid, byref(nd)), f"variable {name}")
        dims = (c_int * max(1, nd.value))()
        self._ok(self.lib.nc_inq_vardimid(self.nc, vid, dims), f"variable {name}")
        size = 1
        for i in range(nd.value):
            n = c_size_t()
            self._ok(self.lib.nc_inq_dimlen(self.nc, dims[i], byref(n)), f"variable {name}")
            size *= n.value
        out = np.empty(size, np.float32)
        self._ok(self.lib.nc_get_var_float(self.nc, vid, out.ctypes.data_as(POINTER(c_float))), f"variable {name}")
        return out
