"""Builds the `qwen` package: the pure-Python files of qwen/ plus the extension qwen._qwen,
which CMake builds from the libqwen checkout this folder sits in.

The extension is the top-level project's `qwen_python` target, linked with the static
library: the installed module is self-contained (no libqwen.so to find at run time, no rpath,
no version skew between the module and the library), and it is built with exactly the
compiler flags, CPU dispatch and warnings of the library's own build. Linking an installed
libqwen through pkg-config would save compile time but tie every environment to one
system-wide copy of a library whose ABI is still at version 0.

    pip install --no-build-isolation ./bindings/python
    QWEN_CMAKE_BUILD_DIR=build/release pip install --no-build-isolation ./bindings/python

The second form reuses a configured build folder (built for the same Python: the extension
suffix must match) instead of configuring a fresh one under build/ here; CI uses it.
CMAKE_BUILD_PARALLEL_LEVEL limits the compile jobs; QWEN_CMAKE_ARGS adds configure options.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def library_version() -> str:
    """MAJOR.MINOR.PATCH from the public header, the one source of truth CMake also reads."""
    header = (REPO / "include/qwen/qwen.h").read_text(encoding="utf-8")
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(rf"^#define QWEN_VERSION_{part} +(\d+)", header, re.M)
        if not m:
            sys.exit(f"setup.py: no QWEN_VERSION_{part} in {REPO / 'include/qwen/qwen.h'}")
        parts.append(m.group(1))
    return ".".join(parts)


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        given = os.environ.get("QWEN_CMAKE_BUILD_DIR")
        build = Path(given).resolve() if given else HERE / "build" / f"cmake-{sysconfig.get_config_var('SOABI')}"
        if not given:
            self.configure(build)
        cmd = ["cmake", "--build", str(build), "--target", "qwen_python"]
        if self.parallel:
            cmd += ["--parallel", str(self.parallel)]
        subprocess.run(cmd, check=True)
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        built = build / "bindings/python/qwen" / f"_qwen{suffix}"
        if not built.is_file():
            found = sorted(p.name for p in (build / "bindings/python/qwen").glob("_qwen*"))
            sys.exit(f"setup.py: {built} was not built (found {found or 'nothing'}): was {build} configured "
                     f"with QWEN_BUILD_PYTHON=ON for this Python ({sys.executable})?")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)

    @staticmethod
    def configure(build: Path) -> None:
        cmd = ["cmake", "-S", str(REPO), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
               f"-DPython_EXECUTABLE={sys.executable}", "-DQWEN_BUILD_PYTHON=ON", "-DQWEN_BUILD_TESTS=OFF",
               "-DQWEN_BUILD_EXAMPLES=OFF", "-DQWEN_WERROR=OFF"]
        # The generator of a configured folder cannot change: choose it the first time only.
        if shutil.which("ninja") and not (build / "CMakeCache.txt").is_file():
            cmd += ["-G", "Ninja"]
        cmd += shlex.split(os.environ.get("QWEN_CMAKE_ARGS", ""))
        subprocess.run(cmd, check=True)


setup(
    version=library_version(),
    packages=["qwen"],
    package_data={"qwen": ["__init__.pyi", "py.typed"]},
    ext_modules=[Extension("qwen._qwen", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
