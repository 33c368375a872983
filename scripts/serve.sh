#!/usr/bin/env bash
# Install what Hubbub needs (first run only) and start it with embedded defaults.
# Any arguments go to `hubbub serve` (e.g. --port 9000 --data-dir /var/lib/hubbub).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
# Voice agents' embedded providers (VAD, speech recognition, espeak-ng speech). The embedded LLM
# needs a native build (several minutes): run scripts/build-llama.sh once, or configure an
# OpenAI-compatible LLM endpoint for your agents.
hubbub_bootstrap "agents" espeak-ng gcc libsrtp2-dev libssl-dev
hubbub_agent_models
exec "$HUBBUB_VENV/bin/hubbub" serve "$@"
