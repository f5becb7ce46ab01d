from datetime import date, timedelta

from tenant_operator.versions.compliance import (
    compare,
    judge,
    next_boundary,
    notice_schedule,
    notices_to_send,
)
from tenant_operator.versions.model import VersionPolicySpec


def policy(**fields) -> VersionPolicySpec:
    return VersionPolicySpec.model_validate({
        "product": "shop", "minimumVersion": "1.2.0",
        "endOfLife": [{"version": "1", "date": "2027-06-30"}, {"version": "1.4", "date": "2027-03-31"}],
        **fields,
    })


def test_versions_compare_numerically() -> None:
    assert compare("1.10.0", "1.9.9") == 1 and compare("v2", "2.0.0") == 0 and compare("1.2.0-rc1", "1.2.0") == 0


def test_compliant_in_grace_and_non_compliant() -> None:
    spec = policy()
    assert judge(spec, "acme", "1.5.0", date(2027, 6, 29)).compliance == "Compliant"
    in_grace = judge(spec, "acme", "1.5.0", date(2027, 7, 10))
    assert (in_grace.compliance, in_grace.grace_days_remaining, in_grace.grace_ends) == (
        "InGracePeriod", 20, date(2027, 7, 30))
    assert judge(spec, "acme", "1.5.0", date(2027, 7, 30)).compliance == "NonCompliant"
    assert judge(spec, "acme", "1.4.7", date(2027, 4, 1)).end_of_life == date(2027, 3, 31)  # the most specific
    assert "below the minimum 1.2.0" in judge(spec, "acme", "1.1.0", date(2026, 1, 1)).reason
    assert judge(spec, "acme", "2.0.0", date(2030, 1, 1)).compliance == "Compliant"
    assert judge(spec, "acme", None, date(2027, 1, 1)).compliance == "NonCompliant"


def test_overrides_and_approved_extensions_move_the_end_of_grace() -> None:
    spec = policy(graceOverrides=[{"tenant": "acme", "gracePeriodDays": 60}],
                  extensions=[{"tenant": "globex", "until": "2027-09-30", "approvedBy": "platform-admin"}])
    assert judge(spec, "acme", "1.5.0", date(2027, 8, 15)).compliance == "InGracePeriod"
    assert judge(spec, "globex", "1.5.0", date(2027, 9, 30)).grace_days_remaining == 1
    assert judge(spec, "initech", "1.5.0", date(2027, 8, 15)).compliance == "NonCompliant"


def test_the_notice_schedule_of_the_process() -> None:
    spec = policy(enforcement={"action": "ForceUpgrade", "targetVersion": "2.0.0", "image": "r/shop:{version}"})
    schedule = notice_schedule(spec, "shop-support", "acme", "1.5.0")
    kinds = [(notice.kind, notice.due) for notice in schedule]
    assert kinds[:3] == [("eol-90", date(2027, 4, 1)), ("eol-30", date(2027, 5, 31)),
                         ("end-of-life", date(2027, 6, 30))]
    assert ("forced-upgrade-7", date(2027, 7, 23)) in kinds
    final_week = [due for kind, due in kinds if kind == "final-week"]
    assert final_week == [date(2027, 7, 24) + timedelta(days=i) for i in range(6)]  # daily until the upgrade
    assert len({notice.key for notice in schedule}) == len(schedule)


def test_only_the_latest_due_notice_goes_out_and_each_only_once() -> None:
    schedule = notice_schedule(policy(), "p", "acme", "1.5.0")
    send, handled = notices_to_send(schedule, set(), date(2027, 6, 1))  # after an outage: eol-90 is stale
    assert [notice.kind for notice in send] == ["eol-30"] and len(handled) == 2
    assert notices_to_send(schedule, set(handled), date(2027, 6, 1)) == ([], [])
    assert next_boundary(schedule, judge(policy(), "acme", "1.5.0", date(2027, 6, 1)), date(2027, 6, 1)) == date(
        2027, 6, 30)


def test_the_inventory_ignores_standbys_and_greens_under_test() -> None:
    from tenant_operator.rollout.gates import IndexedRollout
    from tenant_operator.versions.build import DeployedProduct, build_inventory, live_products

    blue = DeployedProduct("acme", "shop", "shop", "1.5.0", 2, "2027-01-01T00:00:00Z")
    green = DeployedProduct("acme", "shop-2-0-0-ab12c", "shop", "2.0.0", 2, "2027-02-01T00:00:00Z", True)
    assert live_products([blue, green]) == [blue]
    promoted = green._replace(in_rollout=False)
    assert live_products([blue._replace(replicas=0), promoted]) == [promoted]
    rollouts = [IndexedRollout("acme", "r1", "shop", "", "Completed", "2.0.0", "1.5.0", "2027-02-01T00:10:00Z"),
                IndexedRollout("acme", "r0", "shop", "", "RolledBack", "1.9.0", "1.5.0", "2027-01-20T00:10:00Z"),
                IndexedRollout("acme", "r2", "api", "", "Pending", "3.0.0")]
    inventory = build_inventory("acme", [promoted], rollouts, [], date(2027, 2, 2))
    assert [h.rollout for h in inventory.updateHistory] == ["acme/r1", "acme/r0"]
    assert inventory.updateSuccessRate == 0.5 and inventory.pendingUpdates[0].rollout == "acme/r2"
    assert inventory.products[0].version == "2.0.0" and inventory.compliance == "Compliant"


def test_a_notice_whose_moment_has_passed_is_never_sent() -> None:
    spec = policy(enforcement={"action": "ForceUpgrade", "targetVersion": "2.0.0", "image": "r/shop:{version}"})
    schedule = notice_schedule(spec, "p", "acme", "1.5.0")
    sent = {n.key for n in schedule if n.due <= date(2027, 7, 25)}
    send, handled = notices_to_send(schedule, sent, date(2027, 7, 30))  # the deadline: reminders are stale
    assert send == [] and len(handled) == 4


def test_extension_requests_are_pending_until_an_extension_covers_them() -> None:
    from tenant_operator.versions.compliance import extension_request

    spec = policy(extensions=[{"tenant": "globex", "until": "2027-09-30", "approvedBy": "admin"}])
    assert extension_request(spec, "acme", "2027-09-30: migrating")["state"] == "Pending"
    assert extension_request(spec, "globex", "2027-09-15:  short") == {
        "tenant": "globex", "until": "2027-09-15", "reason": "short", "state": "Approved"}
    assert extension_request(spec, "acme", "next year")["state"] == "Invalid"
    assert extension_request(spec, "acme", "2027-13-40")["state"] == "Invalid"
