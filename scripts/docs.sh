#!/usr/bin/env bash
# Build the guide (docs/ + mkdocs.yml) with warnings as errors into src/hubbub/web/guide/, which
# `hubbub serve` serves at /guide/. Extra arguments go to `mkdocs build` (e.g. -d /tmp/site).
# Installs the `docs` extra (MkDocs, Material, mkdocstrings) into the virtualenv when it is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if ! [ -x "$HUBBUB_VENV/bin/mkdocs" ]; then
  hubbub_bootstrap "docs"
fi
cd "$HUBBUB_ROOT"
export NO_MKDOCS_2_WARNING=1  # Material's end-of-life banner: not a build problem
exec "$HUBBUB_VENV/bin/mkdocs" build --strict --quiet "$@"
