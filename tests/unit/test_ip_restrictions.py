import pytest

from tenant_operator.iprestriction.render import ingress_annotations, ip_blocks
from tenant_operator.iprestriction.validation import list_changes, validate


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"allowedIPs": ["1.2.3.256"]}, "invalidIPs"),
        ({"allowedRanges": ["10.0.0.0/33"]}, "invalidCIDRs"),
        ({"allowedRanges": ["10.0.0.1/8"]}, "hostBitsSet"),
        ({"allowedIPs": ["::1", "::1/128"]}, "duplicates"),
        ({"allowedRanges": ["10.0.0.0/8", "10.2.0.0/16"]}, "overlaps"),
        ({"allowedRanges": ["10.0.0.0/8"], "blockList": ["0.0.0.0/0"]}, "conflicts"),
    ],
)
def test_each_rule_reports_its_detail_key(spec: dict, key: str) -> None:
    response = validate(spec).response()
    assert response["error"] == "IP_VALIDATION_ERROR" and key in response["details"]


def test_valid_mixed_families_pass_and_a_block_inside_a_range_is_an_exception() -> None:
    spec = {"allowedRanges": ["10.0.0.0/8", "2001:db8::/32"], "blockList": ["10.0.0.5", "2001:db8::5"]}
    assert validate(spec).ok
    assert ip_blocks(spec) == [
        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.5/32"]}},
        {"ipBlock": {"cidr": "2001:db8::/32", "except": ["2001:db8::5/128"]}},
    ]


def test_empty_allow_lists_allow_everywhere_except_the_block_list() -> None:
    assert ip_blocks({"blockList": ["192.0.2.1"]}) == [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["192.0.2.1/32"]}},
        {"ipBlock": {"cidr": "::/0"}},
    ]


def test_changes_compare_canonical_entries() -> None:
    changes = list_changes({"allowedIPs": ["2001:DB8::1", "1.1.1.1"]}, {"allowedIPs": ["2001:db8::1/128", "8.8.8.8"]})
    assert changes["allowedIPs"] == {"added": ["8.8.8.8/32"], "removed": ["1.1.1.1/32"]}
    assert changes["blockList"] == {"added": [], "removed": []}


def test_ingress_annotations_follow_enabled() -> None:
    spec = {"allowedIPs": ["1.1.1.1"], "blockList": []}
    assert ingress_annotations(spec) == {"nginx.ingress.kubernetes.io/whitelist-source-range": "1.1.1.1/32"}
    assert ingress_annotations({**spec, "enabled": False}) == {}
