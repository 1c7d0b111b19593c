"""`f5-bootstrap COMMAND` / `python -m f5_bootstrap COMMAND`.

run        the image entrypoint: provision the env if needed, then exec the runtime's worker
provision  build (or confirm) the env and the models, then exit 0: the provisioning pod
status     the envs on the volume, which one the bundle maps to, locks, sizes, last use
gc         remove envs unused for a while (never the current one or one in use)

Exit codes: see errors.py and the README. Imports stay lazy: `run`'s warm path loads
only the stdlib.
"""

from __future__ import annotations

import argparse
import sys

from f5_bootstrap import version
from f5_bootstrap.errors import INTERNAL_ERROR, BootstrapError


class ShowVersion(argparse.Action):
    """argparse's "version" action, but the version is read only when asked for (keeps the
    importlib.metadata import off `run`'s warm path)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog} {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="f5-bootstrap",
        description="Build the F5-TTS runtime env on the volume from the workspace lock, "
        "then exec into it. Configuration: F5_* environment variables (see the README).",
    )
    parser.add_argument("--version", action=ShowVersion, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="provision if needed, then exec the runtime worker")
    run.add_argument(
        "--dry-run", action="store_true", help="print the exec line and environment, don't exec"
    )
    run.add_argument(
        "worker_args",
        nargs=argparse.REMAINDER,
        metavar="-- ARGS",
        help="arguments passed on to `f5_runtime worker`",
    )
    sub.add_parser("provision", help="build (or confirm) the env and the models, then exit")
    status = sub.add_parser("status", help="show the envs on the volume")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    gc = sub.add_parser("gc", help="remove envs not used for a while")
    gc.add_argument(
        "--keep-hours",
        type=float,
        default=None,
        help="keep envs used within this many hours (default: F5_GC_KEEP_HOURS or 72)",
    )
    gc.add_argument("--dry-run", action="store_true", help="say what would be removed")
    return parser


def dispatch(args: argparse.Namespace) -> int:
    from f5_bootstrap.config import Config

    config = Config.from_env()
    if args.command == "run":
        from f5_bootstrap.launch import run

        worker_args = args.worker_args
        if worker_args[:1] == ["--"]:
            worker_args = worker_args[1:]
        return run(config, worker_args, dry_run=args.dry_run)
    if args.command == "provision":
        from f5_bootstrap.build import provision

        config.require_volume()
        provision(config)
        return 0
    if args.command == "status":
        from f5_bootstrap.status import show

        return show(config, as_json=args.json)
    if args.command == "gc":
        from f5_bootstrap.gc import collect_garbage

        keep = config.gc_keep_hours if args.keep_hours is None else args.keep_hours
        collect_garbage(config, keep, dry_run=args.dry_run)
        return 0
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # None: argparse reads sys.argv[1:]
    try:
        return dispatch(args)
    except BootstrapError as exc:
        sys.stdout.flush()
        print(f"f5-bootstrap: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception:
        import traceback

        traceback.print_exc()
        print("f5-bootstrap: internal error (a bug): please report it", file=sys.stderr)
        return INTERNAL_ERROR
