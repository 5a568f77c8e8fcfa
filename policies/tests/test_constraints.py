"""Constraints compile from data into checks that never admit a value they should refuse, and regexes that could
backtrack badly are refused before they are saved."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.constraints import ConstraintError, admits, compile_all, glob_match, normalize, violation
from policies.regex_guard import UnsafePattern, compile_safe

TEXT = st.text(alphabet="acmeweb/-_.*?@x1", max_size=20)


def refused(constraint: dict, value) -> str | None:
    return violation(compile_all([constraint]), {"v": value}, {})


def reference_glob(pattern: str, text: str) -> bool:
    """The meaning of a glob, spelled as a regex over the same alphabet: * and ? stay within a segment."""
    deep = pattern.endswith("/**")
    body = pattern[:-3] if deep else pattern
    regex = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in body)
    return re.fullmatch(regex + ("/.+" if deep else ""), text, re.DOTALL) is not None


@settings(max_examples=500)
@given(st.lists(TEXT.filter(bool), min_size=1, max_size=4), st.one_of(TEXT, st.integers(), st.none(), st.booleans()))
def test_one_of_admits_exactly_its_values(values, value):
    ok = refused({"argument": "v", "op": "one_of", "values": values}, value) is None
    expected = (isinstance(value, str) and value in values) or (
        isinstance(value, int) and not isinstance(value, bool) and str(value) in values
    )
    assert ok == expected


@settings(max_examples=500)
@given(st.lists(TEXT.filter(bool), min_size=1, max_size=3), TEXT)
def test_prefix_admits_exactly_values_with_a_prefix(prefixes, value):
    ok = refused({"argument": "v", "op": "prefix", "values": prefixes}, value) is None
    assert ok == any(value.startswith(p) for p in prefixes)


@settings(max_examples=1000)
@given(st.text(alphabet="ab/*?", min_size=1, max_size=8), st.text(alphabet="ab/", max_size=10))
def test_a_glob_admits_exactly_what_it_means(pattern, text):
    if "**" in pattern:
        return
    assert glob_match(pattern, text) == reference_glob(pattern, text)
    deep = pattern.rstrip("/") + "/**"
    assert glob_match(deep, text) == reference_glob(deep, text)


@settings(max_examples=500)
@given(
    st.one_of(st.integers(-50, 50), st.floats(-50, 50, allow_nan=False), st.text(max_size=3), st.booleans()),
    st.integers(-20, 20),
    st.integers(0, 20),
)
def test_a_range_admits_exactly_numbers_between_its_bounds(value, low, width):
    ok = refused({"argument": "v", "op": "range", "min": low, "max": low + width}, value) is None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    assert ok == (is_number and low <= value <= low + width)


@settings(max_examples=500)
@given(st.sampled_from(["acme.com", "evil.com", "mail.acme.com", "acme.com.evil.com"]), st.text("ab", min_size=1))
def test_an_email_domain_admits_only_addresses_at_that_domain(domain, local):
    constraint = {"argument": "v", "op": "email_domain", "values": ["acme.com"]}
    assert (refused(constraint, f"{local}@{domain}") is None) == (domain == "acme.com")
    assert refused(constraint, f"{local}@acme.com, x@{domain}") is None or domain != "acme.com"
    assert refused(constraint, [f"{local}@acme.com", f"x@{domain}"]) is None or domain != "acme.com"


def test_every_element_of_a_list_must_pass_and_a_missing_argument_is_refused():
    repos = {"argument": "repo", "op": "one_of", "values": ["acme/web"]}
    checks = compile_all([repos])
    assert violation(checks, {"repo": ["acme/web", "acme/web"]}, {}) is None
    assert violation(checks, {"repo": ["acme/web", "evil/x"]}, {}) == "argument repo 'evil/x' is not one of acme/web"
    assert violation(checks, {}, {}) == "argument repo is missing (it must be one of acme/web)"
    assert violation(compile_all([{"argument": "force", "op": "absent"}]), {"force": True}, {})
    assert violation(compile_all([{"argument": "a.b", "op": "present"}]), {"a": {"b": 1}}, {}) is None


def test_a_resource_constraint_applies_to_every_argument_declared_of_that_kind():
    checks = compile_all([{"resource": "repository", "op": "glob", "values": ["acme/*"]}])
    declared = {"repo": "repository", "fork_to": "repository"}
    assert violation(checks, {"repo": "acme/web", "fork_to": "acme/copy"}, declared) is None
    reason = violation(checks, {"repo": "acme/web", "fork_to": "evil/copy"}, declared)
    assert reason == "argument fork_to 'evil/copy' is not matching acme/*"
    assert violation(checks, {"query": "x"}, {}) is None  # a tool without repository arguments
    assert admits(checks, "repository", "acme/web") and not admits(checks, "repository", "evil/web")


@pytest.mark.parametrize(
    "bad",
    [
        "not a list",
        [{"op": "one_of", "values": ["a"]}],
        [{"argument": "a", "resource": "repository", "op": "present"}],
        [{"argument": "a", "op": "eval", "values": ["a"]}],
        [{"argument": "a", "op": "one_of", "values": []}],
        [{"argument": "a", "op": "one_of", "values": [1]}],
        [{"argument": "a b", "op": "present"}],
        [{"argument": "a", "op": "range"}],
        [{"argument": "a", "op": "range", "min": 5, "max": 1}],
        [{"argument": "a", "op": "regex", "pattern": "(a+)+b"}],
        [{"argument": "a", "op": "glob", "values": ["a/**/b"]}],
        [{"resource": "Repo!", "op": "present"}],
        [{"argument": "a", "op": "present"}] * 21,
    ],
)
def test_a_malformed_constraint_is_refused_with_a_message(bad):
    with pytest.raises(ConstraintError) as raised:
        normalize(bad)
    assert str(raised.value)


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+b",
        "(a|aa)*c",
        "a*a*b",
        ".*x",
        r"(\w+)\1",
        "(?=a)a",
        "(?i)[A-Z]+a",
        "x{1,5000}",
        "(foo|ba[rz]+)",
        "a" * 201,
    ],
)
def test_a_regex_that_could_backtrack_badly_is_refused(pattern):
    with pytest.raises(UnsafePattern):
        compile_safe(pattern)


@pytest.mark.parametrize(
    ("pattern", "admitted", "refused_value"),
    [
        ("acme/[a-z0-9-]+", "acme/web", "acme/web/x"),
        ("^[a-z0-9-]+/[a-z0-9._-]+$", "acme/web.js", "acme"),
        ("release-[0-9]+", "release-12", "xrelease-12"),
        ("x(foo|bar)", "xbar", "xfoox"),
        ("(ab){2}", "abab", "ab"),
        ("acme/.*", "acme/anything/at/all", "evil/acme/"),
    ],
)
def test_ordinary_regexes_are_accepted_and_matched_whole(pattern, admitted, refused_value):
    constraint = {"argument": "v", "op": "regex", "pattern": pattern}
    assert refused(constraint, admitted) is None
    assert refused(constraint, refused_value) == f"argument v '{refused_value}' is not matching the pattern {pattern}"


@settings(max_examples=300)
@given(
    st.sampled_from(["acme/[a-z0-9-]+", "release-[0-9]+", "[a-z]+@acme[.]com"]),
    st.text("acme/relas-0123@.", max_size=30),
)
def test_an_accepted_regex_admits_exactly_its_full_matches(pattern, value):
    ok = refused({"argument": "v", "op": "regex", "pattern": pattern}, value) is None
    assert ok == (re.fullmatch(pattern, value) is not None)
