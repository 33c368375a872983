#!/usr/bin/env bash
# Install what Hubbub needs (first run only) and start it with embedded defaults.
# Any arguments go to `hubbub serve` (e.g. --port 9000 --data-dir /var/lib/hubbub).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
# Voice agents' embedded providers (VAD, speech recognition, espeak-ng speech). For the LLM give
# agents an OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp's server): the embedded SmolLM2-135M
# (scripts/build-llama.sh, a native build of several minutes) is a smoke test, not an assistant.
hubbub_bootstrap "agents,docs" espeak-ng gcc libsrtp2-dev libssl-dev
hubbub_agent_models
# The guide at /guide/: built when missing or older than docs/ (a build takes a few seconds).
guide="$HUBBUB_ROOT/src/hubbub/web/guide/index.html"
if ! [ -f "$guide" ] || [ -n "$(find "$HUBBUB_ROOT/docs" "$HUBBUB_ROOT/mkdocs.yml" "$HUBBUB_ROOT/src/hubbub/web/sdk" "$HUBBUB_ROOT/src/hubbub/sdk" -newer "$guide" -print -quit)" ]; then
  bash "$HUBBUB_ROOT/scripts/docs.sh" >&2 || echo "hubbub: the guide did not build; /guide/ says how to build it" >&2
fi
# Which agent providers run here, and how to enable the rest (to stderr: stdout stays the server's).
"$HUBBUB_VENV/bin/hubbub" agent providers >&2 || true
exec "$HUBBUB_VENV/bin/hubbub" serve "$@"
