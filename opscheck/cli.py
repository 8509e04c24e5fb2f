"""The ``opscheck`` console script.

``opscheck demo`` runs the suites against an embedded default stack; ``opscheck report`` turns a run's
Allure results into the HTML report (with trends); ``opscheck runbook`` shows which runbook sections
the checks verify and which no check does; ``opscheck cleanup`` removes every throwaway server opscheck
started on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import httpx

from opscheck.demo.apps import APPS, DEFAULT_APP
from opscheck.demo.pushgateway import BINARY as PUSHGATEWAY
from opscheck.demo.pushgateway import pushed_series
from opscheck.demo.stack import DemoStack, project_root, pytest_command, pytest_executable
from opscheck.errors import OpscheckError
from opscheck.reporting.allure_html import ReportRequest, generate
from opscheck.reporting.coverage import collect, default_environment
from opscheck.reporting.metrics import LAST_SUCCESS
from opscheck.restore.servers import reaper, registry
from opscheck.run import shield
from opscheck.run.shield import shielded

__all__ = ["main"]

#: the suites the demo runs, in order; each exists in suites/
DEMO_SUITES = ("smoke", "restore", "auth", "credentials")


def _interrupt_on_signals() -> None:
    """Ctrl-C and SIGTERM both end the demo cleanly. SIGINT's handler is set explicitly: a process started
    in the background by a non-interactive shell inherits SIGINT *ignored*, and would not stop on Ctrl-C."""

    signal.signal(signal.SIGTERM, shield.interrupt_once)  # later signals never cut the cleanup short
    signal.signal(signal.SIGINT, shield.interrupt_once)


def _run_pytest(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run pytest as a child. Ctrl-C or SIGTERM, even one arriving while the child starts, stops it with
    SIGTERM (which the plugin turns into an interrupted run that still writes its reports; SIGINT may be
    ignored in a child) and then raises KeyboardInterrupt here, so the stack is torn down."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        child = subprocess.Popen([sys.executable, "-m", *command], cwd=cwd, env={**os.environ, **env})
        while not stop.is_set():
            with contextlib.suppress(subprocess.TimeoutExpired):
                return child.wait(timeout=0.2)
        shield.stopping()
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise KeyboardInterrupt
    finally:
        if not shield.is_stopping():
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _as_typed(path: Path) -> str:
    """``path`` as a user in the current directory types it: relative below it, else absolute."""
    absolute = path.absolute()  # not resolve(): a virtualenv's python is a symlink out of it
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        return str(absolute)
    return str(relative) if relative.parent != Path() else f"./{relative}"


def _opscheck_command() -> list[str]:
    """This ``opscheck`` as the user can run it again (the script, else ``python -m opscheck.cli``)."""
    script = Path(sys.argv[0])
    if script.name != "opscheck":
        script = Path(sys.executable).with_name("opscheck")
    if script.is_file():
        return [_as_typed(script)]
    return [_as_typed(Path(sys.executable)), "-m", "opscheck.cli"]


def _workdir_args(args: argparse.Namespace) -> list[str]:
    return ["--workdir", str(Path(args.workdir).resolve())] if args.workdir else []


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
    stack = DemoStack(workdir, root, fault=args.fault or "", app_name=args.app)
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
        if stack.pushgateway is not None:
            print(
                f"demo: metrics are pushed to a Prometheus Pushgateway at {stack.pushgateway.url}", flush=True
            )
        else:
            print(f"demo: no Pushgateway installed, metrics not pushed (apt-get install -y {PUSHGATEWAY})")
        command = pytest_command(stack.config_path, suites, args.pytest_args)
        mark = time.monotonic()
        status = _run_pytest(command, root, stack.check_env)
        print(
            f"demo: suites {', '.join(suites)} ran in {time.monotonic() - mark:.1f} s; "
            f"total {time.monotonic() - started:.1f} s; pytest exit status {status}"
        )
        if stack.pushgateway is not None:
            _say_pushed(stack.pushgateway.url)
        if args.keep:
            env_file = stack.write_check_env(workdir / "checks.env")  # before detach: it needs the S3
            stack.detach()
            keep = True
            print("demo: the stack is still running (--keep). Run the suites against it yourself:")
            source = f"set -a && . {shlex.quote(str(env_file))} && set +a"
            printed = [*pytest_executable(root), *command[1:]]
            print(f"  cd {shlex.quote(str(root))} && {source} && {shlex.join(printed)}")
            print("demo: add -n 2 to run the checks on two workers (the restore drill still runs once)")
            again = shlex.join([*_opscheck_command(), "demo", *_workdir_args(args)])
            print(f"demo: stop only the app to see a P0 outage:  {again} --stop-app")
            print(f"demo: stop everything:                        {again} --stop")
        return status
    finally:
        if not keep:
            with shielded():  # a second Ctrl-C or SIGTERM waits until everything is stopped
                stack.stop()


def _say_pushed(url: str) -> None:
    """Read back what the run pushed, so the demo shows metrics as Prometheus would scrape them."""
    try:
        series = pushed_series(url)
    except httpx.HTTPError as exc:
        print(f"demo: could not read the Pushgateway back ({type(exc).__name__})")
        return
    switch = sorted(series.get(LAST_SUCCESS, set()))
    print(
        f"demo: the Pushgateway at {url} holds {len(series)} opscheck series; "
        f"{LAST_SUCCESS} (only a fully passing suite moves it) for: {', '.join(switch) or 'no suite'}"
    )


def cleanup(args: argparse.Namespace) -> int:
    """List (``--dry-run``) or remove every throwaway server opscheck started on this machine."""
    found, problems = reaper.survey()
    where = registry.state_dir()
    verb = "would remove" if args.dry_run else "removed"
    mine = [server for server in found if server.status != "elsewhere"]
    print(f"opscheck cleanup: {len(mine)} throwaway server(s) recorded in {where}")
    failed = 0
    for server in found:
        if server.status == "elsewhere" or args.dry_run:
            print(f"  {'left alone' if server.status == 'elsewhere' else verb}: {server.line()}")
            continue
        try:
            reaper.remove(server)
        except OpscheckError as exc:
            failed += 1
            print(f"  could not remove: {server.line()}: {exc}")
        else:
            print(f"  {verb}: {server.line()}")
    for problem in problems:
        print(f"opscheck cleanup: {problem}", file=sys.stderr)
    return 1 if failed or problems else 0


def runbook(args: argparse.Namespace) -> int:
    environment, source = (
        (args.env, "option --env") if args.env else default_environment(args.opscheck_config)
    )
    print(f"opscheck runbook: environment {environment} ({source}); collecting {' '.join(args.paths)} ...")
    coverage = collect(environment, args.paths, args.opscheck_config)
    for line in coverage.terminal_lines():
        print(line)
    if args.markdown:
        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(coverage.markdown(), encoding="utf-8")
        print(f"opscheck runbook: markdown table written to {path}")
    return 0


def report(args: argparse.Namespace) -> int:
    request = ReportRequest.from_args(args)
    result = generate(request, log=lambda line: print(f"opscheck report: {line}", flush=True))
    print(f"opscheck report: {result.index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opscheck", description="Operational runbooks as executable checks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        func: Callable[[argparse.Namespace], int], help: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        """The sub-command named like ``func``, which runs it."""
        parser = sub.add_parser(func.__name__, help=help, description=description)
        parser.set_defaults(func=func)
        return parser

    d = command(demo, help="run the suites against an embedded default stack (PostgreSQL + Next.js app)")
    d.add_argument("--keep", action="store_true", help="leave the stack running and print the pytest command")
    d.add_argument("--stop", action="store_true", help="stop a stack left running by --keep")
    d.add_argument(
        "--stop-app", action="store_true", help="stop only the app of a kept stack (simulates an outage)"
    )
    d.add_argument("--suites", help=f"comma-separated suites to run (default: {','.join(DEMO_SUITES)})")
    d.add_argument(
        "--app",
        choices=sorted(APPS),
        default=DEFAULT_APP,
        help="reference app: v4 = Next.js + next-auth 4 (default), v5 = Next.js + Auth.js v5",
    )
    d.add_argument("--fault", help=argparse.SUPPRESS)  # reference-app fault modes, for opscheck's own tests
    d.add_argument("--workdir", help="where the demo keeps its config and logs (default .opscheck/demo)")
    d.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")

    r = command(
        report,
        help="generate the Allure HTML report (with trends) from reports/allure-results",
        description="Generate the Allure 3 HTML report from a run's results, with pass-rate and duration "
        "trends kept in a history file, a chart of restore time and backup age against RTO/RPO, and "
        "the runbook coverage. Needs Node.js and npm (the Allure CLI is installed with npm ci on first use).",
    )
    r.add_argument(
        "--reports",
        metavar="DIR",
        help="the run's output directory (env OPSCHECK_REPORTS; default reports/)",
    )
    r.add_argument(
        "--results",
        metavar="DIR",
        action="append",
        help="Allure results directory; repeat it to merge several runs, e.g. a matrix's environments "
        "(default <reports>/allure-results)",
    )
    r.add_argument("--output", metavar="DIR", help="report directory (default <reports>/allure-report)")
    r.add_argument(
        "--history",
        metavar="FILE",
        help="Allure's history file, kept between runs for the trends; cache it in CI "
        "(env OPSCHECK_ALLURE_HISTORY; default <reports>/allure-history.jsonl)",
    )
    r.add_argument(
        "--history-limit", metavar="N", type=int, default=100, help="runs the history keeps (default 100)"
    )
    r.add_argument("--name", help="report title (default: opscheck · <environments>)")
    r.add_argument(
        "--multi-file",
        action="store_true",
        help="write the report as many files (needs a web server) instead of one self-contained index.html",
    )
    r.add_argument("--env", metavar="NAME", help="environment whose runbook coverage the report shows")
    r.add_argument("--opscheck-config", metavar="PATH", help="config file for the runbook coverage")
    r.add_argument(
        "--suites",
        metavar="PATH",
        action="append",
        help="suites collected for the runbook coverage (default suites/)",
    )

    c = command(
        cleanup,
        help="list and remove every throwaway server opscheck started on this machine",
        description="Stop and remove every throwaway PostgreSQL (local cluster or container) opscheck "
        "started on this machine: left by killed runs, kept by `opscheck demo --keep`, or in use by a "
        "run that is still going (it will fail). Servers are found through the records in the state "
        f"directory (env {registry.STATE_DIR_ENV}; default ~/.local/state/opscheck) and containers also "
        "through their labels; nothing else is touched. Every run already reaps the servers of runs "
        "that were killed.",
    )
    c.add_argument("--dry-run", action="store_true", help="only list what would be removed")

    b = command(
        runbook,
        help="list the runbook's sections with the checks that verify them",
        description="List every section of the environment's runbook with the checks bound to it, and "
        "mark the sections no check verifies. Collects the suites; runs and contacts nothing.",
    )
    b.add_argument(
        "--env", metavar="NAME", help="environment (default: OPSCHECK_ENV, else the config's first)"
    )
    b.add_argument(
        "--opscheck-config", metavar="PATH", help="config file (env OPSCHECK_CONFIG; default ./opscheck.toml)"
    )
    b.add_argument("--markdown", metavar="FILE", help="also write the table as markdown to FILE")
    b.add_argument("paths", nargs="*", default=["suites"], help="suites to collect (default suites/)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _interrupt_on_signals()
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
