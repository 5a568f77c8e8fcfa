"""The compiled policy's evaluator: default deny, a deny wins, order does not matter, every decision names its
rule."""

from hypothesis import given
from hypothesis import strategies as st

from policies.compiled import CompiledPolicy, CompiledRule

TARGETS = ["all", "tool", "resource", "prompt"]
rules_strategy = st.lists(
    st.builds(
        CompiledRule,
        id=st.integers(1, 10_000),
        allow=st.booleans(),
        connection_id=st.integers(1, 3),
        target=st.sampled_from(TARGETS),
        name=st.sampled_from(["", "echo", "delete_repo", "test://a"]),
    ),
    max_size=12,
    unique_by=lambda r: r.id,
)
ITEMS = st.tuples(
    st.integers(1, 3),
    st.sampled_from(["tool", "resource", "prompt"]),
    st.sampled_from(["echo", "delete_repo", "test://a", "other"]),
)


def test_an_agent_without_rules_is_refused_everything():
    decision = CompiledPolicy.compile([]).decide(1, "tool", "echo")
    assert not decision.allowed and decision.rule_id is None


def test_the_most_specific_allow_names_the_decision_and_a_deny_wins():
    policy = CompiledPolicy.compile(
        [
            CompiledRule(1, True, 1, "all", ""),
            CompiledRule(2, True, 1, "tool", "echo"),
            CompiledRule(3, False, 1, "tool", "delete_repo"),
        ]
    )
    assert policy.decide(1, "tool", "echo").rule_id == 2
    assert policy.decide(1, "prompt", "summarize").rule_id == 1
    refused = policy.decide(1, "tool", "delete_repo")
    assert not refused.allowed and refused.rule_id == 3
    assert not policy.decide(2, "tool", "echo").allowed


def test_resource_templates_are_governed_as_resources():
    policy = CompiledPolicy.compile([CompiledRule(1, True, 1, "resource", "")])
    assert policy.decide(1, "template", "test://t/{id}").allowed


@given(rules_strategy, ITEMS)
def test_a_matching_deny_always_wins(rules, item):
    policy = CompiledPolicy.compile(rules)
    decision = policy.decide(*item)
    denies = [r for r in rules if not r.allow and r.matches(item[0], item[1], item[2])]
    if denies:
        assert not decision.allowed and decision.rule_id in {r.id for r in denies}


@given(rules_strategy, ITEMS)
def test_nothing_is_allowed_without_a_matching_allow(rules, item):
    decision = CompiledPolicy.compile(rules).decide(*item)
    allows = [r for r in rules if r.allow and r.matches(item[0], item[1], item[2])]
    if decision.allowed:
        assert decision.rule_id in {r.id for r in allows}
    if not allows:
        assert not decision.allowed


@given(rules_strategy, ITEMS, st.randoms())
def test_the_decision_does_not_depend_on_the_order_of_rules(rules, item, rnd):
    shuffled = list(rules)
    rnd.shuffle(shuffled)
    assert CompiledPolicy.compile(rules).decide(*item) == CompiledPolicy.compile(shuffled).decide(*item)
