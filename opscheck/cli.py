"""The ``opscheck`` console script: ``opscheck demo`` runs the suites against an embedded default stack."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from opscheck.demo import DemoStack, project_root, pytest_command
from opscheck.errors import OpscheckError

__all__ = ["main"]

#: the suites the demo runs, in order; each exists in suites/
DEMO_SUITES = ("smoke", "restore")


def _interrupt_on_sigterm() -> None:
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _run_pytest(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run pytest as a child; on Ctrl-C/SIGTERM pass an interrupt on so it still writes its reports."""
    child = subprocess.Popen([sys.executable, "-m", *command], cwd=cwd, env={**os.environ, **env})
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise


def demo(args: argparse.Namespace) -> int:
    root = project_root()
    workdir = Path(args.workdir).resolve() if args.workdir else root / ".opscheck" / "demo"
    if args.stop or args.stop_app:
        stopped = DemoStack.stop_kept(workdir, app_only=args.stop_app)
        print(
            "demo: stopped" + (" the app" if args.stop_app else " the stack")
            if stopped
            else "demo: nothing kept"
        )
        return 0
    if DemoStack.stop_kept(workdir):
        print("demo: stopped the stack a previous --keep left running")
    suites = [s for s in (args.suites.split(",") if args.suites else DEMO_SUITES) if s]
    started = time.monotonic()
    stack = DemoStack(workdir, root, fault=args.fault or "")
    keep = False
    try:
        print(
            "demo: building the reference app (cached after the first run) and seeding PostgreSQL ...",
            flush=True,
        )
        stack.start()
        assert stack.config_path is not None
        t = stack.timings
        print(
            f"demo: stack up in {time.monotonic() - started:.1f} s (app build {t['build_s']:.1f} s, "
            f"database {t['database_s']:.1f} s, backups {t['backups_s']:.1f} s, app start {t['app_s']:.1f} s) "
            f"at {stack.base_url}",
            flush=True,
        )
        print(f"demo: PostgreSQL via {stack.provider[0]} ({stack.provider[1]})", flush=True)
        command = pytest_command(stack.config_path, suites, args.pytest_args)
        mark = time.monotonic()
        status = _run_pytest(command, root, stack.check_env)
        print(
            f"demo: suites {', '.join(suites)} ran in {time.monotonic() - mark:.1f} s; "
            f"total {time.monotonic() - started:.1f} s; pytest exit status {status}"
        )
        if args.keep:
            stack.detach()
            keep = True
            print("demo: the stack is still running (--keep). Run the suites against it yourself:")
            env_file = workdir / "checks.env"
            env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in stack.check_env.items()))
            env_file.chmod(0o600)
            source = f"set -a && . {shlex.quote(str(env_file))} && set +a"
            print(f"  cd {shlex.quote(str(root))} && {source} && {shlex.join(command)}")
            print("demo: stop only the app to see a P0 outage:  opscheck demo --stop-app")
            print("demo: stop everything:                        opscheck demo --stop")
        return status
    finally:
        if not keep:
            stack.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opscheck", description="Operational runbooks as executable checks."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser(
        "demo", help="run the suites against an embedded default stack (PostgreSQL + Next.js app)"
    )
    d.add_argument("--keep", action="store_true", help="leave the stack running and print the pytest command")
    d.add_argument("--stop", action="store_true", help="stop a stack left running by --keep")
    d.add_argument(
        "--stop-app", action="store_true", help="stop only the app of a kept stack (simulates an outage)"
    )
    d.add_argument("--suites", help=f"comma-separated suites to run (default: {','.join(DEMO_SUITES)})")
    d.add_argument("--fault", help=argparse.SUPPRESS)  # reference-app fault modes, for opscheck's own tests
    d.add_argument("--workdir", help="where the demo keeps its config and logs (default .opscheck/demo)")
    d.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    d.set_defaults(func=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _interrupt_on_sigterm()
    try:
        return int(args.func(args))
    except OpscheckError as exc:
        print(f"opscheck {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"opscheck {args.command}: interrupted; everything it started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
