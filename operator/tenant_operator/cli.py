"""The `tenant-operator` command: run the operator, or regenerate the CRDs from the models."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
from pathlib import Path

from . import __version__


def run_operator(args: argparse.Namespace) -> None:
    import kopf
    from prometheus_client import start_http_server

    from . import runtime

    runtime.WEBHOOK.port = args.webhook_port
    runtime.WEBHOOK.bind = args.bind
    runtime.WEBHOOK.host = args.webhook_host
    runtime.WEBHOOK.cert_dir = Path(args.webhook_cert_dir)
    runtime.WEBHOOK.manage_configuration = not args.webhook_unmanaged
    runtime.DATABASE.namespace = args.database_namespace
    runtime.DATABASE.default_server = args.database_server
    runtime.DATABASE.archive_dir = Path(args.database_archive_dir)
    runtime.NOTIFICATIONS.smtp_host = args.smtp_host
    runtime.NOTIFICATIONS.smtp_port = args.smtp_port
    runtime.NOTIFICATIONS.sender = args.smtp_from
    runtime.ROLLOUTS.prometheus_url = args.prometheus_url
    runtime.PEERING.priority = args.peering_priority if args.peering_priority is not None else random.randint(1, 32767)
    runtime.PEERING.lifetime = args.peering_lifetime
    if args.clock_file:
        runtime.CLOCK.path = Path(args.clock_file)

    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.JSON if args.json_logs else kopf.LogFormat.FULL)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.bind)
    liveness = f"http://{args.bind}:{args.liveness_port}/healthz" if args.liveness_port else None
    asyncio.run(
        kopf.operator(
            clusterwide=True,
            standalone=not args.peering,
            peering_name=args.peering or None,
            priority=runtime.PEERING.priority,
            liveness_endpoint=liveness,
        )
    )


def write_crds(args: argparse.Namespace) -> None:
    from .crdgen import write_generated

    for path in write_generated(Path(args.repo)):
        print(path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tenant-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig or in-cluster config")
    run.add_argument("--bind", default="0.0.0.0", help="address of the liveness and metrics endpoints")
    run.add_argument("--liveness-port", type=int, default=8080, help="0 disables /healthz")
    run.add_argument("--metrics-port", type=int, default=9090, help="0 disables /metrics")
    run.add_argument("--peering", default="", help="ClusterKopfPeering name for leader election between replicas; "
                     "empty: standalone")
    run.add_argument("--peering-priority", type=int, default=None,
                     help="this replica's priority (the highest acts); default: random, so replicas never tie")
    run.add_argument("--peering-lifetime", type=int, default=60,
                     help="seconds after its last heartbeat that a silent replica still counts as alive")
    run.add_argument("--webhook-port", type=int, default=9443, help="admission webhook port; 0 disables it")
    run.add_argument("--webhook-host", default="127.0.0.1", help="host name the apiserver uses to reach the webhook")
    run.add_argument(
        "--webhook-cert-dir",
        default="/tmp/tenant-operator-webhook",
        help="folder with tls.crt and tls.key (generated, self-signed, when absent)",
    )
    run.add_argument(
        "--webhook-unmanaged",
        action="store_true",
        help="do not create the webhook configurations (the Helm chart ships them)",
    )
    run.add_argument(
        "--database-namespace",
        default=os.environ.get("POD_NAMESPACE", "tenant-operator-system"),
        help="namespace of the PostgreSQL servers' admin Secrets (labelled tenancy.io/database-server=true)",
    )
    run.add_argument("--database-server", default="postgres", help="Secret of the default PostgreSQL server")
    run.add_argument(
        "--database-archive-dir",
        default="/var/lib/tenant-operator/archives",
        help="where spec.database.deletionPolicy: Archive writes pg_dump archives",
    )
    run.add_argument("--smtp-host", default="", help="SMTP server for e-mail notifications; empty: no e-mail")
    run.add_argument("--smtp-port", type=int, default=25)
    run.add_argument("--smtp-from", default="tenant-operator@localhost", help="sender of notification e-mails")
    run.add_argument("--prometheus-url", default="", help="Prometheus that rollout checks query unless they name one")
    run.add_argument(
        "--clock-file",
        default="",
        help="testing: a file holding an ISO-8601 instant makes calendar decisions (windows, schedules) use it",
    )
    run.add_argument("--json-logs", action="store_true", help="log JSON lines")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(handler=run_operator)

    crds = commands.add_parser("crds", help="regenerate crds/ and the chart's copies from the models")
    crds.add_argument("--repo", default=".", help="repository root to write into")
    crds.set_defaults(handler=write_crds)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
