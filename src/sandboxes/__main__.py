"""Start the three sandbox servers: ``python -m sandboxes serve [--scenario demo]``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from pathlib import Path

import uvicorn

from sandboxes import DEFAULT_PORTS, VENDORS


def build_app(vendor: str, data_dir: Path):  # type: ignore[no-untyped-def]
    module = importlib.import_module(f"sandboxes.{vendor}.app")
    return module.create_app(data_dir / vendor)


async def _serve(args: argparse.Namespace) -> None:
    servers = []
    for vendor in VENDORS:
        port = getattr(args, f"{vendor}_port")
        app = build_app(vendor, Path(args.data_dir))
        config = uvicorn.Config(
            app,
            host=args.host,
            port=port,
            log_level=args.log_level,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        servers.append(uvicorn.Server(config))
        print(f"sandbox {vendor:<8} http://{args.host}:{port}", flush=True)
    await asyncio.gather(*(server.serve() for server in servers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the awork, Personio and HQ sandboxes")
    serve.add_argument("--data-dir", default=".data/sandboxes", help="SQLite files live here")
    serve.add_argument("--host", default="127.0.0.1")
    for vendor in VENDORS:
        serve.add_argument(f"--{vendor}-port", type=int, default=DEFAULT_PORTS[vendor])
    serve.add_argument("--log-level", default="warning")
    serve.add_argument(
        "--hq-rate-limit",
        default=None,
        metavar="N|hq|off",
        help="HQ's per-token limit in requests per minute ('hq': HQ's documented 1000); "
        "default: $HQ_SANDBOX_RATE_LIMIT, else off",
    )
    seed = sub.add_parser("seed", help="load a scenario into running sandboxes over HTTP")
    seed.add_argument("scenario", help="a scenario file, or 'demo'")
    seed.add_argument("--host", default="127.0.0.1")
    for vendor in VENDORS:
        seed.add_argument(f"--{vendor}-port", type=int, default=DEFAULT_PORTS[vendor])
    seed.add_argument("--reset", action="store_true", help="reset the sandboxes first")
    args = parser.parse_args(argv)

    if args.command == "serve":
        logging.basicConfig(level=args.log_level.upper())
        if args.hq_rate_limit is not None:
            os.environ["HQ_SANDBOX_RATE_LIMIT"] = args.hq_rate_limit
        try:
            asyncio.run(_serve(args))
        except KeyboardInterrupt:
            pass
        return 0
    if args.command == "seed":
        from sandboxes.scenario import load_scenario

        urls = {v: f"http://{args.host}:{getattr(args, f'{v}_port')}" for v in VENDORS}
        summary = load_scenario(args.scenario, urls, reset=args.reset)
        for line in summary:
            print(line)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
