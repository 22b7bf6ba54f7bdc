"""``python -m airflow_provider_harness.emulator`` - run the Harness emulator in the foreground.

Example::

    python -m airflow_provider_harness.emulator --port 8181 --time-scale 0.1 --state-file /tmp/harness.json

The project ``default/emulator_project`` always exists (as with ``run_emulator`` and the pytest fixture),
so a connection with ``org_id=default``, ``project_id=emulator_project`` works at once;
``--no-default-project`` leaves it out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from airflow_provider_harness.emulator.settings import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_API_KEY,
    DEFAULT_PORT,
    DEFAULT_PROJECT,
    DEFAULT_PROJECT_ORG,
    EmulatorSettings,
)

DEFAULT_PROJECT_SPEC = f"{DEFAULT_PROJECT_ORG}/{DEFAULT_PROJECT}"


def build_parser() -> argparse.ArgumentParser:
    """The CLI (kept import-light so ``--help`` is instant)."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_harness.emulator",
        description="An offline Harness (harness.io) API emulator: platform resources, pipeline executions, "
        "webhooks, notifications, log service, rate limits and fault injection.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    add("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    add("--account-id", default=DEFAULT_ACCOUNT_ID, help=f"account identifier (default {DEFAULT_ACCOUNT_ID})")
    add(
        "--api-key", default=DEFAULT_API_KEY, help="accepted x-api-key (default pat.<account>.emulator.token)"
    )
    add(
        "--extra-api-key",
        action="append",
        default=[],
        metavar="ACCOUNT=KEY",
        help="another account and its API key (repeatable)",
    )
    add("--state-file", help="persist state to this JSON file (atomic writes; running executions resume)")
    add("--time-scale", type=float, default=1.0, help="wall seconds per emulated second (0.01 = 100x faster)")
    add("--min-step-seconds", type=float, default=0.05, help="least wall time a step runs (default 0.05)")
    add(
        "--default-step-seconds",
        type=float,
        default=1.0,
        help="emulated duration of generic steps (default 1)",
    )
    add(
        "--webhook-delay",
        type=float,
        default=1.0,
        help="emulated seconds before a webhook event is processed",
    )
    add("--rate-limit", type=int, help="requests per minute per API key; 429 beyond (default: off)")
    add("--rate-limit-window", type=float, default=60.0, help="rate limit window in seconds (default 60)")
    add("--rate-limit-retry-after", type=int, help="send Retry-After on 429 (Harness does not; default off)")
    add("--legacy-interrupts", action="store_true", help="accept Pause/Resume interrupts (pre-2023 Harness)")
    add(
        "--public-url", help="base URL written into webhook/notification/log links (default http://host:port)"
    )
    add("--seed", help="'demo' or a YAML/JSON seed file applied when no state file exists")
    add(
        "--project",
        action="append",
        default=[],
        metavar="[ORG/]PROJECT",
        help=f"another project that always exists (repeatable; {DEFAULT_PROJECT_SPEC} always does)",
    )
    add(
        "--no-default-project",
        action="store_true",
        help=f"do not create the project {DEFAULT_PROJECT_SPEC}",
    )
    add(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='a fault to inject at start, e.g. \'{"kind": "error", "status": 503, "count": 3}\'',
    )
    add("--access-log", action="store_true", help="log every request")
    add("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def settings_from_args(args: argparse.Namespace) -> EmulatorSettings:
    """Turn parsed arguments into settings."""
    extra: dict[str, str] = {}
    for item in args.extra_api_key:
        account, sep, key = item.partition("=")
        if not sep or not account or not key:
            raise SystemExit(f"--extra-api-key expects ACCOUNT=KEY, got {item!r}")
        extra[key] = account
    return EmulatorSettings(
        host=args.host,
        port=args.port,
        account_id=args.account_id,
        api_key=args.api_key,
        extra_api_keys=extra,
        state_file=args.state_file,
        time_scale=args.time_scale,
        min_step_seconds=args.min_step_seconds,
        default_step_seconds=args.default_step_seconds,
        webhook_delay_seconds=args.webhook_delay,
        rate_limit=args.rate_limit or None,
        rate_limit_window_seconds=args.rate_limit_window,
        rate_limit_retry_after=args.rate_limit_retry_after,
        legacy_interrupts=args.legacy_interrupts,
        public_url=args.public_url,
        seed=args.seed,
        projects=([] if args.no_default_project else [DEFAULT_PROJECT_SPEC]) + list(args.project),
        access_log=args.access_log,
        log_level=args.log_level,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and serve until interrupted."""
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    try:
        faults = [json.loads(spec) for spec in args.fault]
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--fault expects JSON: {exc}") from None
    from airflow_provider_harness.emulator.app import StartupError
    from airflow_provider_harness.emulator.server import serve

    try:
        serve(settings, faults)
    except KeyboardInterrupt:
        pass
    except (OSError, StartupError, ValueError) as exc:
        print(f"cannot start the emulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
