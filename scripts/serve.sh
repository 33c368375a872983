#!/usr/bin/env bash
# Install what Hubbub needs (first run only) and start it with embedded defaults.
# Any arguments go to `hubbub serve` (e.g. --port 9000 --data-dir /var/lib/hubbub).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
hubbub_bootstrap ""
exec "$HUBBUB_VENV/bin/hubbub" serve "$@"
