from tenant_operator.tenant.identity import display_name_key, slugify


def test_display_names_compare_without_case_and_extra_spaces() -> None:
    assert display_name_key("Acme  Corp") == display_name_key(" acme corp ")
    assert display_name_key("Acme Corp") != display_name_key("Acme Corp.")


def test_slugify_makes_a_dns_label() -> None:
    assert slugify("Acme Corp. 2") == "acme-corp-2"
    assert slugify("--Weird   Name--") == "weird-name"
    long = slugify("A" * 30 + " " + "B" * 30)
    assert len(long) <= 40 and not long.endswith("-")
    assert slugify("...") == "tenant"
