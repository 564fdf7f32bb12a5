"""Build script: compiles the Cython kernels in orbsched/_kernels/ when it can.

ORBSCHED_COMPILE controls the compiled kernels:
  auto (default)  compile; if that fails (no C compiler, no Cython), warn and install the
                  package with its pure-numpy twins only (orbsched.accelerated is then False)
  always          a failed compile is an error
  never           do not try; install the twins only
The same approach as python-sgp4's optional C++ extension.
"""
import os
import sys
import warnings

from setuptools import setup
from setuptools.command.build_ext import build_ext

MODE = os.environ.get("ORBSCHED_COMPILE", "auto").strip().lower()
if MODE not in ("auto", "always", "never"):
    sys.exit(f"ORBSCHED_COMPILE must be auto, always or never, got {MODE!r}")

KERNELS = ["shadow", "visibility", "visibility_near", "graph", "thermal", "fleet_base", "fleet",
           "fleet_search"]


def extensions():
    if MODE == "never":
        return []
    try:
        import numpy
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError as exc:
        if MODE == "always":
            raise
        warnings.warn(f"orbsched: Cython or numpy missing ({exc}); installing the numpy twins only",
                      stacklevel=2)
        return []
    flags = [] if os.name == "nt" else ["-O2", "-ffp-contract=off", "-fno-fast-math"]
    exts = [Extension(f"orbsched._kernels.{name}", [f"orbsched/_kernels/{name}.pyx"],
                      include_dirs=[numpy.get_include()], extra_compile_args=flags,
                      define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
            for name in KERNELS]
    try:
        return cythonize(exts, compiler_directives={"language_level": 3}, quiet=True)
    except Exception as exc:  # a Cython error is a bug; still install the twins unless 'always'
        if MODE == "always":
            raise
        warnings.warn(f"orbsched: cythonize failed ({exc}); installing the numpy twins only",
                      stacklevel=2)
        return []


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the twins with a warning unless ORBSCHED_COMPILE=always."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers...
            self._fail(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc):
        if MODE == "always":
            raise
        msg = (f"orbsched: compiling the Cython kernels failed ({exc}); installing the pure-numpy "
               f"twins only (orbsched.accelerated will be False). Set ORBSCHED_COMPILE=always "
               f"to make this an error.")
        warnings.warn(msg, stacklevel=2)
        print("WARNING: " + msg, file=sys.stderr)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
