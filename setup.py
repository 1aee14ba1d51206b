"""Build the Cython kernels in csrc/ as nnkit._ext.<name>.

Environment switches (all off by default):
  NNKIT_DEBUG=1   bounds checking, wraparound and initialized checks back on (a checked build)
  NNKIT_NATIVE=1  -march=native for a source build tuned to this CPU (never in a wheel)
  NNKIT_KERNELS=conv,pool   build only these kernels (a faster edit-compile loop)
  NNKIT_ASAN=1    AddressSanitizer (-fsanitize=address): run Python with libasan preloaded (see .ci/run)
"""
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# Every csrc/<name>.pyx is a kernel module nnkit._ext.<name>: a new family needs no edit here.
KERNELS = sorted(name[:-4] for name in os.listdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc"))
                 if name.endswith(".pyx"))
if os.environ.get("NNKIT_KERNELS"):
    KERNELS = os.environ["NNKIT_KERNELS"].split(",")

DEBUG = os.environ.get("NNKIT_DEBUG") == "1"
NATIVE = os.environ.get("NNKIT_NATIVE") == "1"
ASAN = os.environ.get("NNKIT_ASAN") == "1"

if sys.platform == "win32":
    compile_args, link_args = ["/O2", "/openmp"], []
elif sys.platform == "darwin":  # Apple clang needs libomp from Homebrew
    compile_args, link_args = ["-O3", "-fno-math-errno", "-Xpreprocessor", "-fopenmp"], ["-lomp"]
else:  # -fno-math-errno: nothing reads errno, and it lets sqrt vectorise
    compile_args, link_args = ["-O3", "-fno-math-errno", "-fopenmp"], ["-fopenmp"]
if NATIVE:
    compile_args.append("-march=native")
if DEBUG:
    compile_args = [a for a in compile_args if not a.startswith("-O")] + ["-O0", "-g"]
if ASAN:  # the raw-pointer indexing the checked build cannot see; -O1 as ASan recommends (and a quicker build)
    compile_args = [a for a in compile_args if not a.startswith("-O")] + ["-O1", "-g", "-fsanitize=address",
                                                                         "-fno-omit-frame-pointer"]
    link_args = link_args + ["-fsanitize=address"]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

extensions = [
    Extension(
        f"nnkit._ext.{name}",
        [f"csrc/{name}.pyx"],
        include_dirs=[numpy.get_include(), "csrc"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("NNKIT_DEBUG_BUILD", "1" if DEBUG else "0")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    for name in KERNELS
]

# Release and debug builds keep their generated C and objects apart, so that
# switching NNKIT_DEBUG never reuses the other build's output.
flavour = ("debug" if DEBUG else ("native" if NATIVE else "release")) + ("-asan" if ASAN else "")
setup(
    ext_modules=cythonize(extensions, compiler_directives=directives, include_path=["csrc"],
                          build_dir=f"build/{flavour}/cython"),
    options={"build": {"build_base": f"build/{flavour}"}},
)
