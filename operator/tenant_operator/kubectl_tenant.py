"""`kubectl tenant`: a kubectl plugin (installed as kubectl-tenant) for tenants' rollouts and compliance.

    kubectl tenant rollout status NAME [-n NS] [--watch]   live view: phase, traffic split, checks
    kubectl tenant rollout promote NAME [-n NS]            approve a rollout waiting for approval
    kubectl tenant rollout abort NAME [-n NS]              roll back now (sets spec.abort)
    kubectl tenant rollout history [-n NS] [--product P]   past and current rollouts, newest first
    kubectl tenant report [--product P] [--html FILE]      versions and compliance of all tenants
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import kube
from .api import ANNOTATION_PROMOTE, API_VERSION
from .rollout.model import FINISHED_PHASES
from .versions.report import build_report, render_html, render_table

BAR_WIDTH = 20
EXIT_OK, EXIT_ROLLED_BACK, EXIT_TIMEOUT, EXIT_USAGE = 0, 1, 2, 3


def traffic_bar(weight: int | None) -> str:
    weight = weight or 0
    filled = round(BAR_WIDTH * weight / 100)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {weight:3d}% green"


def step_label(rollout: dict[str, Any]) -> str:
    status, spec = rollout.get("status") or {}, rollout.get("spec") or {}
    if status.get("phase") != "TrafficSwitch" or not spec.get("trafficRouting"):
        return ""
    steps = spec.get("steps") or []
    return f"  (step {int(status.get('currentStep') or 0) + 1}/{len(steps)})"


def check_line(check: dict[str, Any]) -> str:
    mark = {True: "ok", False: "FAIL", None: "..."}[check.get("passed")]
    failures = f", {check['failures']} failing in a row" if check.get("failures") else ""
    return f"  {mark:4} {check['kind']}/{check['name']}: {check.get('value') or 'not measured yet'}{failures}"


def render_status(rollout: dict[str, Any]) -> str:
    """The status view, one frame."""
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    frm = status.get("blueVersion") or "?"
    lines = [
        f"Name:     {rollout['metadata']['namespace']}/{rollout['metadata']['name']}",
        f"Product:  {spec.get('product')}  {frm} -> {spec.get('version')}",
        f"Phase:    {status.get('phase') or 'Pending'}{step_label(rollout)}",
        f"Traffic:  {traffic_bar(status.get('currentWeight'))}",
    ]
    if status.get("checks"):
        lines.append("Checks:")
        lines.extend(check_line(check) for check in status["checks"])
    lines.append(f"Message:  {status.get('message') or ''}")
    return "\n".join(lines)


def outcome_code(rollout: dict[str, Any]) -> int | None:
    phase = (rollout.get("status") or {}).get("phase")
    if phase == "Completed":
        return EXIT_OK
    if phase in FINISHED_PHASES:
        return EXIT_ROLLED_BACK
    return None


def age(timestamp: str | None, now: datetime) -> str:
    if not timestamp:
        return "-"
    seconds = int((now - datetime.fromisoformat(timestamp.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def render_history(rollouts: list[dict[str, Any]], now: datetime) -> str:
    rows = [("NAME", "PRODUCT", "FROM", "TO", "PHASE", "STARTED", "FINISHED", "MESSAGE")]
    for rollout in sorted(rollouts, key=lambda r: r["metadata"].get("creationTimestamp", ""), reverse=True):
        spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
        rows.append((rollout["metadata"]["name"], spec.get("product", ""), status.get("blueVersion") or "-",
                     spec.get("version", ""), status.get("phase") or "Pending", age(status.get("startedAt"), now),
                     age(status.get("finishedAt"), now), (status.get("message") or "")[:60]))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "   ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + "   " + str(row[-1])
        for row in rows
    )


async def get_rollout(name: str, namespace: str) -> dict[str, Any]:
    rollout = await kube.get(API_VERSION, "UpdateRollout", name, namespace)
    if rollout is None:
        raise SystemExit(f"error: updaterollout {namespace}/{name} not found")
    return rollout


async def whoami() -> str:
    """The caller's user name as the apiserver sees it, for the approval record."""
    return await kube.own_username() or "unknown"


async def status_command(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    shown = ""
    while True:
        rollout = await get_rollout(args.name, args.namespace)
        frame = render_status(rollout)
        if frame != shown:
            if shown:
                print("\033[2J\033[H" if sys.stdout.isatty() else "---", flush=True)
            print(frame, flush=True)
            shown = frame
        code = outcome_code(rollout)
        if not args.watch:
            return EXIT_OK if code is None else code
        if code is not None:
            return code
        if time.monotonic() > deadline:
            print(f"timed out after {args.timeout}s", file=sys.stderr)
            return EXIT_TIMEOUT
        await asyncio.sleep(args.interval)


async def promote_command(args: argparse.Namespace) -> int:
    rollout = await get_rollout(args.name, args.namespace)
    approval = f"{await whoami()} at {datetime.now(UTC).replace(microsecond=0).isoformat()}"
    await kube.nudge(API_VERSION, "UpdateRollout", args.name, ANNOTATION_PROMOTE, approval, args.namespace)
    phase = (rollout.get("status") or {}).get("phase")
    note = "" if phase == "Paused" else f" (it is {phase or 'Pending'}; the approval applies when it pauses)"
    print(f"updaterollout {args.namespace}/{args.name} promoted{note}")
    return EXIT_OK


async def abort_command(args: argparse.Namespace) -> int:
    await get_rollout(args.name, args.namespace)
    await kube.merge_patch(API_VERSION, "UpdateRollout", args.name, {"spec": {"abort": True}}, args.namespace)
    print(f"updaterollout {args.namespace}/{args.name} aborted: traffic returns to blue")
    return EXIT_OK


async def history_command(args: argparse.Namespace) -> int:
    rollouts = await kube.list_objects(API_VERSION, "UpdateRollout", namespace=args.namespace)
    if args.product:
        rollouts = [r for r in rollouts if (r.get("spec") or {}).get("product") == args.product]
    print(render_history(rollouts, datetime.now(UTC)))
    return EXIT_OK


async def report_command(args: argparse.Namespace) -> int:
    report = build_report(await kube.list_objects(API_VERSION, "Tenant"), args.product, now=datetime.now(UTC))
    print(render_table(report))
    if args.html:
        path = Path(args.html).resolve()
        path.write_text(render_html(report), encoding="utf-8")
        print(f"HTML report written to {path}")
    return EXIT_OK


def default_namespace() -> str:
    from kubernetes_asyncio import config

    try:
        _, active = config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))
        return str(active["context"].get("namespace") or "default")
    except Exception:  # noqa: BLE001  (no kubeconfig: kube.connect reports it)
        return "default"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubectl tenant", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", default=None, help="path to the kubeconfig (default: $KUBECONFIG)")
    groups = parser.add_subparsers(dest="group", required=True)
    rollout = groups.add_parser("rollout", help="UpdateRollouts").add_subparsers(dest="command", required=True)
    for command, help_text in (("status", "show a rollout, live with --watch"), ("promote", "approve a paused "
                               "rollout"), ("abort", "roll back now")):
        sub = rollout.add_parser(command, help=help_text)
        sub.add_argument("name")
        sub.add_argument("-n", "--namespace", default=None)
        if command == "status":
            sub.add_argument("-w", "--watch", action="store_true", help="follow until it completes or rolls back")
            sub.add_argument("--timeout", type=float, default=3600, help="seconds to watch before giving up")
            sub.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    history = rollout.add_parser("history", help="rollouts in a namespace, newest first")
    history.add_argument("-n", "--namespace", default=None)
    history.add_argument("--product", default=None)
    report = groups.add_parser("report", help="versions and compliance of all tenants")
    report.set_defaults(command="report")
    report.add_argument("--product", default=None, help="only this product (tenants that run it)")
    report.add_argument("--html", default=None, metavar="FILE", help="also write a self-contained HTML page")
    return parser.parse_args(argv)


COMMANDS = {"status": status_command, "promote": promote_command, "abort": abort_command, "history": history_command,
            "report": report_command}


async def run(args: argparse.Namespace) -> int:
    try:
        return await COMMANDS[args.command](args)
    finally:
        await kube.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    if "namespace" in vars(args):  # Tenants are cluster-scoped: `report` has no namespace
        args.namespace = args.namespace or default_namespace()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
