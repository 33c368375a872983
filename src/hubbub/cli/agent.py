"""``hubbub agent start|list|stop``: drive agents through the REST API with an API key.

    hubbub agent start --app-id APP --channel room1 --listen-to alice \
        --llm-url http://127.0.0.1:11434/v1 --llm-model llama3.2
    hubbub agent start --app-id APP --channel room1 --config agent.json
    hubbub agent list  --app-id APP
    hubbub agent stop  --app-id APP AGENT_ID
    hubbub agent providers          # which providers run here, and how to enable the rest
    hubbub agent eval-llm [--llm-url URL --llm-model MODEL]   # 20 questions, JSON

``--url`` (default ``$HUBBUB_URL`` or http://127.0.0.1:8080), ``--api-key`` (default
``$HUBBUB_API_KEY``) and ``--app-id`` (default ``$HUBBUB_APP_ID``) say where, as whom and in which
project.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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
    start.add_argument("--channel", help="the channel the agent joins")
    start.add_argument(
        "--listen-to", action="append", default=None, metavar="USER", help="a user the agent hears (repeatable)"
    )
    start.add_argument("--greeting", help="what the agent says when it joins")
    start.add_argument("--system-prompt", help="the LLM's instructions")
    llm_flags(start)
    start.set_defaults(func=_start)
    listing = inner.add_parser("list", help="the project's agents")
    common(listing)
    listing.set_defaults(func=_list)
    stop = inner.add_parser("stop", help="stop an agent")
    common(stop)
    stop.add_argument("agent_id")
    stop.set_defaults(func=_stop)
    providers = inner.add_parser("providers", help="which agent providers can run here, and how to enable the rest")
    providers.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    providers.add_argument("--fakes", action="store_true", help="list the test fakes too")
    providers.set_defaults(func=_providers)
    evaluate = inner.add_parser(
        "eval-llm",
        help="ask an LLM 20 simple spoken-assistant questions; print scores and latency as JSON",
        description="Scores each answer (holds the expected fact, in English, at most 30 words) and "
        "times it. Without --llm-url or --llm it evaluates the embedded default, SmolLM2-135M "
        "(a smoke test, not an assistant).",
    )
    llm_flags(evaluate)
    evaluate.add_argument(
        "--llm", dest="llm_json", metavar="JSON", help='an LLM provider config, e.g. \'{"name": "llama"}\''
    )
    evaluate.add_argument("--questions", type=Path, help="another question file (default: the committed 20)")
    evaluate.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    evaluate.add_argument("--temperature", type=float, default=0.7, help="default: 0.7, an agent's default")
    evaluate.add_argument("--max-tokens", type=int, default=256, help="default: 256, an agent's default")
    evaluate.add_argument("--system-prompt", help="default: an agent's default system prompt")
    evaluate.add_argument("--threads", type=int, default=2, help="CPU threads for the embedded llama (default: 2)")
    evaluate.add_argument("--summary", action="store_true", help="leave out the answers")
    evaluate.set_defaults(func=_eval_llm)


def llm_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--llm-url",
        metavar="URL",
        help="an OpenAI-compatible endpoint for the LLM (Ollama: http://127.0.0.1:11434/v1, vLLM: "
        "http://HOST:8000/v1, llama.cpp's server: http://HOST:8080/v1). Without one the agent uses the "
        "embedded SmolLM2-135M: a smoke test, not an assistant",
    )
    p.add_argument("--llm-model", metavar="MODEL", help="the model name the endpoint serves (with --llm-url)")
    p.add_argument(
        "--llm-api-key-env",
        metavar="VAR",
        help="the variable holding the endpoint's API key, if it needs one (read where the agent runs: "
        "the server's environment for start, this one for eval-llm)",
    )


def _llm_from_flags(args: argparse.Namespace) -> dict[str, Any] | None:
    from hubbub.cli.errors import CliError

    if args.llm_url is None:
        if args.llm_model or args.llm_api_key_env:
            raise CliError("--llm-model and --llm-api-key-env go with --llm-url (an OpenAI-compatible endpoint)")
        return None
    if not args.llm_model:
        raise CliError("--llm-url needs --llm-model: the model name the endpoint serves (e.g. llama3.2)")
    llm: dict[str, Any] = {"name": "openai", "base_url": args.llm_url, "model": args.llm_model}
    if args.llm_api_key_env:
        llm["api_key_env"] = args.llm_api_key_env
    return llm


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    import httpx

    from hubbub.cli.errors import CliError

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
        detail = str(data.get("detail", r.text))
        lines = (f"{e.get('field')}: {e.get('message')}" for e in data.get("errors", []) if isinstance(e, dict))
        fields = "".join(f"\n  {line}" for line in lines if line not in detail)  # each problem once
        raise CliError(f"{data.get('code', r.status_code)}: {detail}{fields}")
    return data


def _start(args: argparse.Namespace) -> int:
    from hubbub.cli.errors import CliError
    from hubbub.schema import jsonsafe

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
    llm = _llm_from_flags(args)
    if llm is not None:
        providers = config.get("providers")
        config["providers"] = {**(providers if isinstance(providers, dict) else {}), "llm": llm}
    started = _call(args, "POST", "", config)
    print(json.dumps(started, indent=2))
    if started.get("providers", {}).get("llm") == "llama":
        print(
            "hubbub: note: this agent thinks with the embedded SmolLM2-135M, a smoke test, not an assistant; "
            "for conversations give it an OpenAI-compatible endpoint: --llm-url URL --llm-model MODEL",
            file=sys.stderr,
        )
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


def _providers(args: argparse.Namespace) -> int:
    from hubbub.agents.providers import report

    items = report.rows(fakes=args.fakes)
    print(json.dumps([r.as_dict() for r in items], indent=2) if args.json else report.table(items))
    return 0


def _eval_llm(args: argparse.Namespace) -> int:
    import asyncio

    from hubbub.agents.eval import llm as evaluation
    from hubbub.agents.providers import registry
    from hubbub.cli.errors import CliError
    from hubbub.schema import jsonsafe

    config = _llm_from_flags(args)
    if args.llm_json is not None:
        if config is not None:
            raise CliError("give --llm or --llm-url, not both")
        try:
            config = jsonsafe.loads(args.llm_json, what="--llm")
        except ValueError as exc:
            raise CliError(f"--llm: {exc}") from None
        if not isinstance(config, dict):
            raise CliError('--llm must be a JSON object, e.g. \'{"name": "llama"}\'')
    if config is None:
        config = {"name": registry.DEFAULTS["llm"]}
    if config.get("name", config.get("provider")) == "llama":
        config.setdefault("n_threads", args.threads)
    try:
        questions = evaluation.load_questions(args.questions)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"cannot read the questions: {exc}") from None
    if args.limit > 0:
        questions = questions[: args.limit]
    try:
        llm = registry.build_llm(config)
    except registry.ProviderUnavailableError as exc:
        raise CliError(f"{exc}; {registry.alternative('llm')}") from None
    except registry.RegistryError as exc:
        raise CliError(str(exc)) from None
    system_prompt = evaluation.DEFAULT_SYSTEM_PROMPT if args.system_prompt is None else args.system_prompt

    async def run() -> dict[str, Any]:
        try:
            return await evaluation.evaluate(
                llm,
                questions,
                llm_config=config,
                system_prompt=system_prompt,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
            )
        finally:
            close = getattr(llm, "aclose", None)
            if close is not None:
                await close()

    result = asyncio.run(run())
    if args.summary:
        result.pop("answers")
    print(json.dumps(result, indent=2))
    return 0
