#!/usr/bin/env bash
# Install the test dependencies (Python packages and Debian packages such as PostgreSQL) and run
# the whole suite: lint, types, then pytest. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
hubbub_bootstrap "test" postgresql openssl chromium nftables janus gcc
cd "$HUBBUB_ROOT"
export HUBBUB_REQUIRE_POSTGRES=1
echo "== ruff" && "$HUBBUB_VENV/bin/ruff" check src tests
echo "== mypy" && "$HUBBUB_VENV/bin/mypy" src/hubbub
echo "== pytest" && exec "$HUBBUB_VENV/bin/pytest" -q -p no:cacheprovider "$@"
