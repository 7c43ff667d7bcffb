"""setup.py — bundles libsten into the package at build time (pyproject.toml
has the metadata). Where the library comes from, in order:
  STEN_LIBRARY=/path/libsten.so   that file (a build you already have);
  STEN_NO_BUNDLE=1                nothing: the package finds an installed
                                  libsten at import (cmake --install, ldconfig);
  otherwise                       CMake builds libsten from the source tree this
                                  directory sits in (../CMakeLists.txt), with
                                  STEN_CMAKE_ARGS added to its configure line.
The package itself is ctypes only: no compiler is needed for it."""
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent


def find_or_build_libsten(build_temp: Path):
    if os.environ.get("STEN_NO_BUNDLE"):
        return None
    lib = os.environ.get("STEN_LIBRARY")
    if lib:
        return Path(lib)
    root = HERE.parent
    if not (root / "CMakeLists.txt").exists() or not (root / "include" / "sten.h").exists():
        raise SystemExit("sten: no source tree beside python/ to build libsten from; set STEN_LIBRARY to a "
                         "built libsten.so, or STEN_NO_BUNDLE=1 to use an installed one")
    out = build_temp / "libsten-build"
    args = ["cmake", "-S", str(root), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release", "-DSTEN_TESTS=OFF",
            "-DSTEN_BENCH=OFF"] + shlex.split(os.environ.get("STEN_CMAKE_ARGS", ""))
    subprocess.run(args, check=True)
    subprocess.run(["cmake", "--build", str(out), "--target", "sten_shared", "-j", str(os.cpu_count() or 2)],
                   check=True)
    return out / "libsten.so"


class BuildPy(build_py):
    def run(self):
        super().run()
        lib = find_or_build_libsten(Path(self.get_finalized_command("build").build_temp))
        if lib is not None:
            dest = Path(self.build_lib) / "sten" / "libsten.so"
            shutil.copyfile(os.path.realpath(lib), dest)  # the real file, not the symlink chain


class BinaryDistribution(Distribution):
    """The wheel holds a compiled library: tag it for this platform."""

    def has_ext_modules(self):
        return not os.environ.get("STEN_NO_BUNDLE")


setup(cmdclass={"build_py": BuildPy}, distclass=BinaryDistribution)
