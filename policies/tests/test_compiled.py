"""The compiled policy's evaluator: default deny, a deny wins, the most specific rule decides, order does not
matter, constraints hold, and every decision names its rule."""

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.compiled import DENY, CompiledPolicy, CompiledRule, RateLimit, tool_tags
from policies.constraints import compile_all

NAMES = {1: "github", 2: "drive", 3: "echo"}
TAGS = [frozenset(), frozenset({"read_only"}), frozenset({"destructive"})]
REPO_CHECKS = compile_all([{"argument": "repo", "op": "one_of", "values": ["acme/web", "acme/api"]}])

rules_strategy = st.lists(
    st.builds(
        CompiledRule,
        id=st.integers(1, 10_000),
        effect=st.sampled_from(["allow", "ask", "deny"]),
        connection_id=st.sampled_from([1, 2, 3, None]),
        target=st.sampled_from(["all", "tool", "resource", "prompt", "pattern", "annotation"]),
        name=st.sampled_from(["", "echo", "delete_repo", "test://a", "github__*", "*__delete_*", "read_only"]),
        checks=st.sampled_from([(), REPO_CHECKS]),
        expires_at=st.sampled_from([None, 100.0, 10_000.0]),
    ),
    max_size=14,
    unique_by=lambda r: r.id,
)
ITEMS = st.tuples(
    st.integers(1, 3),
    st.sampled_from(["tool", "resource", "prompt"]),
    st.sampled_from(["echo", "delete_repo", "test://a", "other"]),
    st.sampled_from(TAGS),
    st.sampled_from([None, {}, {"repo": "acme/web"}, {"repo": "evil/x"}]),
)
NOW = 1_000.0


def decide(policy: CompiledPolicy, item):
    cid, kind, name, tags, arguments = item
    return policy.decide(cid, kind, name, arguments, tags=tags, now=NOW)


def matching(rules, item):
    cid, kind, name, tags, _ = item
    full = f"{NAMES[cid]}__{name}"
    live = [r for r in rules if r.expires_at is None or r.expires_at > NOW]
    return [r for r in live if r.matches(cid, kind, name, tags, full)]


def test_an_agent_without_rules_is_refused_everything():
    decision = CompiledPolicy.compile([]).decide(1, "tool", "echo", {})
    assert decision.effect == DENY and decision.rule_id is None
    assert decision.reason == "no rule allows it (denied by default)"


def test_the_most_specific_rule_decides_and_a_deny_wins():
    policy = CompiledPolicy.compile(
        [
            CompiledRule(1, "allow", 1, "all"),
            CompiledRule(2, "ask", 1, "tool", "echo"),
            CompiledRule(3, "deny", 1, "tool", "delete_repo"),
            CompiledRule(4, "allow", 1, "tool", "delete_repo"),
            CompiledRule(5, "ask", None, "pattern", "github__create_*"),
        ],
        NAMES,
    )
    assert (policy.decide(1, "tool", "echo").effect, policy.decide(1, "tool", "echo").rule_id) == ("ask", 2)
    assert policy.decide(1, "prompt", "summarize").rule_id == 1
    assert policy.decide(1, "tool", "create_issue").rule_id == 5
    refused = policy.decide(1, "tool", "delete_repo")
    assert refused.effect == "deny" and refused.rule_id == 3 and refused.reason == "denied by rule 3"
    assert policy.decide(2, "tool", "echo").effect == "deny"


def test_annotations_follow_the_spec_defaults():
    assert tool_tags({}) == {"destructive"}
    assert tool_tags({"annotations": {"readOnlyHint": True}}) == {"read_only"}
    assert tool_tags({"annotations": {"destructiveHint": False}}) == frozenset()
    policy = CompiledPolicy.compile(
        [
            CompiledRule(1, "allow", None, "annotation", "read_only"),
            CompiledRule(2, "deny", None, "annotation", "destructive"),
        ]
    )
    assert policy.decide(3, "tool", "list", tags=tool_tags({"annotations": {"readOnlyHint": True}})).rule_id == 1
    assert policy.decide(3, "tool", "rm", tags=tool_tags({})).effect == "deny"


def test_a_forbidden_argument_is_refused_naming_the_rule_and_the_value():
    policy = CompiledPolicy.compile([CompiledRule(12, "allow", 1, "tool", "create_issue", checks=REPO_CHECKS)])
    refused = policy.decide(1, "tool", "create_issue", {"repo": "x/y"})
    assert refused.effect == "deny" and refused.rule_id == 12
    assert refused.reason == "argument repo 'x/y' is not one of acme/api, acme/web (rule 12)"
    assert policy.decide(1, "tool", "create_issue", {"repo": "acme/web"}).effect == "allow"
    assert "is missing" in policy.decide(1, "tool", "create_issue", {}).reason
    # Listing (no arguments): the tool is offered; the constraint applies to each call.
    assert policy.decide(1, "tool", "create_issue").offered


def test_an_expired_rule_no_longer_matches():
    policy = CompiledPolicy.compile([CompiledRule(1, "allow", 1, "all", expires_at=500.0)])
    assert policy.decide(1, "tool", "echo", now=499).effect == "allow"
    assert policy.decide(1, "tool", "echo", now=500).effect == "deny"


def test_the_deciding_rule_carries_its_rate_limit():
    rate = RateLimit(count=20, period_seconds=60, burst=5)
    policy = CompiledPolicy.compile([CompiledRule(1, "allow", 1, "tool", "echo", rate=rate)])
    assert policy.decide(1, "tool", "echo", {}).rule.rate == rate
    assert rate.describe() == "20 calls per minute (burst 5)"


@settings(max_examples=400)
@given(rules_strategy, ITEMS)
def test_a_matching_deny_always_wins(rules, item):
    decision = decide(CompiledPolicy.compile(rules, NAMES), item)
    denies = [r for r in matching(rules, item) if r.effect == "deny"]
    if denies:
        assert decision.effect == "deny" and decision.rule_id == min(r.id for r in denies)


@settings(max_examples=400)
@given(rules_strategy, ITEMS)
def test_nothing_is_offered_without_a_matching_allow_or_ask(rules, item):
    decision = decide(CompiledPolicy.compile(rules, NAMES), item)
    permits = [r for r in matching(rules, item) if r.effect != "deny"]
    if decision.offered:
        assert decision.rule_id in {r.id for r in permits}
    if not permits:
        assert decision.effect == "deny"


@settings(max_examples=400)
@given(rules_strategy, ITEMS)
def test_the_index_agrees_with_the_reference_definition_of_a_match(rules, item):
    policy = CompiledPolicy.compile(rules, NAMES)
    cid, kind, name, tags, _ = item
    found = {r.id for r in policy.candidates(cid, "resource" if kind == "template" else kind, name, tags)}
    full = f"{NAMES[cid]}__{name}"
    assert found == {r.id for r in rules if r.matches(cid, kind, name, tags, full)}


@settings(max_examples=400)
@given(rules_strategy, ITEMS, st.randoms())
def test_the_decision_does_not_depend_on_the_order_of_rules(rules, item, rnd):
    shuffled = list(rules)
    rnd.shuffle(shuffled)
    assert decide(CompiledPolicy.compile(rules, NAMES), item) == decide(CompiledPolicy.compile(shuffled, NAMES), item)


@settings(max_examples=400)
@given(rules_strategy, ITEMS)
def test_a_call_is_never_admitted_with_an_argument_its_rule_forbids(rules, item):
    decision = decide(CompiledPolicy.compile(rules, NAMES), item)
    arguments = item[4]
    if decision.offered and arguments is not None and decision.rule.checks:
        assert arguments.get("repo") in {"acme/web", "acme/api"}
