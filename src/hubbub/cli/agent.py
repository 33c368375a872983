"""``hubbub agent start|list|stop``: drive agents through the REST API with an API key.

    hubbub agent start --app-id APP --channel room1 --config agent.json [--listen-to alice]
    hubbub agent list  --app-id APP
    hubbub agent stop  --app-id APP AGENT_ID

``--url`` (default ``$HUBBUB_URL`` or http://127.0.0.1:8080), ``--api-key`` (default
``$HUBBUB_API_KEY``) and ``--app-id`` (default ``$HUBBUB_APP_ID``) say where, as whom and in which
project.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("agent", help="start, list and stop voice agents (REST API, API key)")
    inner = parser.add_subparsers(dest="agent_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--url",
            default=os.environ.get("HUBBUB_URL", "http://127.0.0.1:8080"),
            help="the server's base URL (default: $HUBBUB_URL or http://127.0.0.1:8080)",
        )
        p.add_argument(
            "--api-key",
            default=os.environ.get("HUBBUB_API_KEY", ""),
            help="an API key, hk_<id>.<secret> (default: $HUBBUB_API_KEY)",
        )
        p.add_argument(
            "--app-id",
            default=os.environ.get("HUBBUB_APP_ID", ""),
            help="the project's App ID (default: $HUBBUB_APP_ID)",
        )

    start = inner.add_parser("start", help="start an agent in a channel")
    common(start)
    start.add_argument("--config", type=Path, help="a JSON agent config (flags below override it)")
    start.add_argument("--channel")
    start.add_argument("--listen-to", action="append", default=None, metavar="USER")
    start.add_argument("--greeting")
    start.add_argument("--system-prompt")
    start.set_defaults(func=_start)
    listing = inner.add_parser("list", help="the project's agents")
    common(listing)
    listing.set_defaults(func=_list)
    stop = inner.add_parser("stop", help="stop an agent")
    common(stop)
    stop.add_argument("agent_id")
    stop.set_defaults(func=_stop)


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    import httpx

    from hubbub.cli import CliError

    if not args.app_id:
        raise CliError("an App ID is needed: --app-id or $HUBBUB_APP_ID")
    if not args.api_key:
        raise CliError("an API key is needed: --api-key or $HUBBUB_API_KEY")
    url = f"{args.url.rstrip('/')}/api/v1/projects/{args.app_id}/agents{path}"
    try:
        r = httpx.request(method, url, json=body, headers={"authorization": f"Bearer {args.api_key}"}, timeout=60)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {args.url}: {exc}") from None
    data = r.json() if r.headers.get("content-type", "").startswith(("application/json", "application/problem")) else {}
    if r.status_code >= 400:
        fields = "".join(f"\n  {e['field']}: {e['message']}" for e in data.get("errors", []) if isinstance(e, dict))
        raise CliError(f"{data.get('code', r.status_code)}: {data.get('detail', r.text)}{fields}")
    return data


def _start(args: argparse.Namespace) -> int:
    from hubbub.cli import CliError
    from hubbub.util import jsonsafe

    config: dict[str, Any] = {}
    if args.config:
        try:
            config = jsonsafe.loads(args.config.read_bytes(), what=str(args.config))
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {args.config}: {exc}") from None
    for key, value in (
        ("channel", args.channel),
        ("listen_to", args.listen_to),
        ("greeting", args.greeting),
        ("system_prompt", args.system_prompt),
    ):
        if value is not None:
            config[key] = value
    print(json.dumps(_call(args, "POST", "", config), indent=2))
    return 0


def _list(args: argparse.Namespace) -> int:
    agents = _call(args, "GET", "")["agents"]
    if not agents:
        print(f"no agents running in project {args.app_id}")
        return 0
    for agent in agents:
        print(
            f"{agent['agent_id']}  {agent['state']:<10} {agent['channel']:<20} turns={agent['turns']} {agent['reason']}"
        )
    return 0


def _stop(args: argparse.Namespace) -> int:
    agent = _call(args, "DELETE", f"/{args.agent_id}")
    print(f"{agent['agent_id']} {agent['state']}")
    return 0
