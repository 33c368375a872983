#!/usr/bin/env bash
# Install the test dependencies (Python packages and Debian packages such as PostgreSQL) and run
# the whole suite: lint, types, then pytest. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
hubbub_bootstrap "test,agents,piper,docs" postgresql openssl chromium nftables janus gcc g++ espeak-ng redis-server libsrtp2-dev libssl-dev nginx caddy nodejs
hubbub_agent_models
hubbub_node  # eslint and tsc for the Web SDK (tests/web), Node for the JS conformance runner
bash "$HUBBUB_ROOT/scripts/build-llama.sh"
export HUBBUB_REQUIRE_AGENT_MODELS=1 HUBBUB_REQUIRE_CHROMIUM=1
cd "$HUBBUB_ROOT"
echo "== guide" && bash "$HUBBUB_ROOT/scripts/docs.sh"  # served at /guide/ by the live-server tests
export HUBBUB_REQUIRE_POSTGRES=1
echo "== ruff" && "$HUBBUB_VENV/bin/ruff" check src tests
echo "== mypy" && "$HUBBUB_VENV/bin/mypy"  # src/hubbub and tests, strict ([tool.mypy] in pyproject.toml)
echo "== pytest" && exec "$HUBBUB_VENV/bin/pytest" -q -p no:cacheprovider "$@"
