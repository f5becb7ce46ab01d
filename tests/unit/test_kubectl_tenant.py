from datetime import UTC, datetime

from tenant_operator.kubectl_tenant import outcome_code, parse_args, render_history, render_status, traffic_bar

ROLLOUT = {
    "metadata": {"name": "web-2", "namespace": "shop", "creationTimestamp": "2026-11-23T10:00:00Z"},
    "spec": {"product": "web", "version": "2.0.0", "trafficRouting": {"httpRoute": {"name": "web"}},
             "steps": [{"weight": 10}, {"weight": 50}, {"weight": 100}]},
    "status": {"phase": "TrafficSwitch", "currentStep": 1, "currentWeight": 50, "blueVersion": "1.0.0",
               "message": "50% of traffic on green, 50% on blue", "startedAt": "2026-11-23T10:00:05Z",
               "checks": [{"name": "smoke", "kind": "http", "passed": False, "value": "HTTP 503 in 2 ms",
                           "failures": 1}]},
}


def test_the_status_view_shows_the_step_the_split_and_the_checks() -> None:
    view = render_status(ROLLOUT)
    assert "Product:  web  1.0.0 -> 2.0.0" in view
    assert "Phase:    TrafficSwitch  (step 2/3)" in view
    assert "Traffic:  [##########..........]  50% green" in view
    assert "FAIL http/smoke: HTTP 503 in 2 ms, 1 failing in a row" in view
    assert outcome_code(ROLLOUT) is None
    assert outcome_code({"status": {"phase": "Completed"}}) == 0
    assert outcome_code({"status": {"phase": "RolledBack"}}) == 1
    assert traffic_bar(None).endswith("  0% green")


def test_history_is_newest_first_with_ages() -> None:
    older = {"metadata": {"name": "web-1", "creationTimestamp": "2026-11-20T10:00:00Z"},
             "spec": {"product": "web", "version": "1.0.0"},
             "status": {"phase": "Completed", "startedAt": "2026-11-20T10:00:00Z",
                        "finishedAt": "2026-11-20T10:05:00Z"}}
    table = render_history([older, ROLLOUT], datetime(2026, 11, 23, 11, 0, tzinfo=UTC)).splitlines()
    assert table[0].split()[:5] == ["NAME", "PRODUCT", "FROM", "TO", "PHASE"]
    assert table[1].split()[:7] == ["web-2", "web", "1.0.0", "2.0.0", "TrafficSwitch", "59m", "-"]
    assert table[2].split()[:7] == ["web-1", "web", "-", "1.0.0", "Completed", "3d", "3d"]


def test_commands_parse() -> None:
    args = parse_args(["rollout", "status", "web-2", "-n", "shop", "--watch"])
    assert (args.command, args.name, args.namespace, args.watch) == ("status", "web-2", "shop", True)
    assert parse_args(["rollout", "history", "--product", "web"]).product == "web"
