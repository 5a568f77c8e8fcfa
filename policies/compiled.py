"""The compiled policy of one agent and its pure evaluator.

Compiling turns the agent's rules into immutable data indexed by connection, kind and name; deciding is a pure
function of that data, the item asked for and (for a call) its arguments:

1. default deny: no matching rule, no access;
2. a matching deny wins over everything;
3. otherwise the most specific matching rule decides: one item by name, then a pattern (``github__create_*``),
   then an annotation (read-only, destructive), then every item of a kind, then everything of a connection;
   a rule on one connection beats the same kind of rule on every connection; at equal specificity "ask" beats
   "allow", then the older rule (lower id) wins, so the order rules are listed in never matters;
4. that rule's argument constraints must hold, or the call is refused naming the rule and the argument.

No database, no I/O, no allocation beyond the answer: microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from policies.constraints import Check, violation, wildcard_match

ALL = "all"
PATTERN = "pattern"
ANNOTATION = "annotation"
ALLOW, ASK, DENY = "allow", "ask", "deny"
READ_ONLY, DESTRUCTIVE = "read_only", "destructive"
NO_TAGS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RateLimit:
    count: int  # calls per period
    period_seconds: int
    burst: int  # calls allowed back to back

    def describe(self) -> str:
        unit = {60: "minute", 3600: "hour"}.get(self.period_seconds, f"{self.period_seconds} s")
        return f"{self.count} calls per {unit}" + (f" (burst {self.burst})" if self.burst > 1 else "")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    effect: str  # allow, ask or deny
    connection_id: int | None  # None: every connection (patterns and annotations)
    target: str  # all, tool, resource, prompt, pattern or annotation
    name: str = ""  # the item ("" = every item of the kind), the glob, or the annotation
    checks: tuple[Check, ...] = ()
    rate: RateLimit | None = None
    expires_at: float | None = None  # epoch seconds

    @property
    def rank(self) -> int:
        if self.target == ALL:
            level = 0
        elif self.target == ANNOTATION:
            level = 2
        elif self.target == PATTERN:
            level = 3
        else:
            level = 4 if self.name else 1
        return level * 2 + (self.connection_id is not None)

    def order(self) -> tuple[int, int, int]:
        """Greater is preferred among the non-deny rules that match."""
        return (self.rank, self.effect == ASK, -self.id)

    def matches(self, connection_id: int, kind: str, name: str, tags: frozenset[str] = NO_TAGS, full: str = "") -> bool:
        """The reference definition of a match; the index in CompiledPolicy must agree with it."""
        if self.connection_id is not None and self.connection_id != connection_id:
            return False
        if self.target == ALL:
            return True
        if self.target == PATTERN:
            return kind == "tool" and wildcard_match(self.name, full)
        if self.target == ANNOTATION:
            return kind == "tool" and self.name in tags
        return self.target == kind and (self.name == "" or self.name == name)


@dataclass(frozen=True, slots=True)
class Decision:
    effect: str  # allow, ask or deny
    rule_id: int | None  # None: nothing matched, denied by default
    reason: str
    rule: CompiledRule | None = None

    @property
    def allowed(self) -> bool:
        """Allowed outright, with no person to ask."""
        return self.effect == ALLOW

    @property
    def offered(self) -> bool:
        """Shown to the agent: allowed, or allowed once a person approves."""
        return self.effect != DENY

    @property
    def label(self) -> str:
        return self.effect


DEFAULT_DENY = Decision(DENY, None, "no rule allows it (denied by default)")


@dataclass(frozen=True, slots=True)
class _Bucket:
    """The rules of one connection (or of every connection), indexed by what they match."""

    exact: dict[tuple[str, str], tuple[CompiledRule, ...]] = field(default_factory=dict)
    kinds: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    whole: tuple[CompiledRule, ...] = ()
    patterns: tuple[CompiledRule, ...] = ()
    annotations: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    # Which patterns match a tool's full name, remembered: a pure function of the name, and an agent names few
    # tools, so a policy with many patterns pays the matching once per tool rather than on every call.
    pattern_hits: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict, compare=False)

    def patterns_matching(self, full: str) -> tuple[CompiledRule, ...]:
        hits = self.pattern_hits.get(full)
        if hits is None:
            if len(self.pattern_hits) >= PATTERN_MEMO_SIZE:
                self.pattern_hits.clear()
            hits = self.pattern_hits[full] = tuple(r for r in self.patterns if wildcard_match(r.name, full))
        return hits


PATTERN_MEMO_SIZE = 4096


def _bucket(rules: list[CompiledRule]) -> _Bucket:
    exact: dict[tuple[str, str], list[CompiledRule]] = {}
    kinds: dict[str, list[CompiledRule]] = {}
    annotations: dict[str, list[CompiledRule]] = {}
    whole, patterns = [], []
    for rule in sorted(rules, key=lambda r: r.id):
        if rule.target == ALL:
            whole.append(rule)
        elif rule.target == PATTERN:
            patterns.append(rule)
        elif rule.target == ANNOTATION:
            annotations.setdefault(rule.name, []).append(rule)
        elif rule.name:
            exact.setdefault((rule.target, rule.name), []).append(rule)
        else:
            kinds.setdefault(rule.target, []).append(rule)
    return _Bucket(
        exact={k: tuple(v) for k, v in exact.items()},
        kinds={k: tuple(v) for k, v in kinds.items()},
        whole=tuple(whole),
        patterns=tuple(patterns),
        annotations={k: tuple(v) for k, v in annotations.items()},
    )


@dataclass(frozen=True)
class CompiledPolicy:
    buckets: dict[int | None, _Bucket] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)  # connection id -> name, for patterns

    @classmethod
    def compile(cls, rules: Iterable[CompiledRule], names: Mapping[int, str] | None = None) -> CompiledPolicy:
        grouped: dict[int | None, list[CompiledRule]] = {}
        for rule in rules:
            grouped.setdefault(rule.connection_id, []).append(rule)
        return cls({cid: _bucket(rs) for cid, rs in grouped.items()}, dict(names or {}))

    def candidates(self, connection_id: int, kind: str, name: str, tags: frozenset[str] = NO_TAGS):
        """Every rule that matches the item, expired or not."""
        for cid in (connection_id, None):
            bucket = self.buckets.get(cid)
            if bucket is None:
                continue
            yield from bucket.exact.get((kind, name), ())
            yield from bucket.kinds.get(kind, ())
            yield from bucket.whole
            if kind == "tool":
                if bucket.patterns:
                    yield from bucket.patterns_matching(f"{self.names.get(connection_id, '')}__{name}")
                for tag in tags:
                    yield from bucket.annotations.get(tag, ())

    def decide(
        self,
        connection_id: int,
        kind: str,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        tags: frozenset[str] = NO_TAGS,
        resources: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> Decision:
        """The decision for one item; with ``arguments`` (a call), also the deciding rule's constraints.

        Resources and templates are both governed as kind "resource". ``tags`` are the tool's annotations
        (read_only, destructive); ``resources`` maps its arguments to the resource kinds they name.
        """
        if kind == "template":
            kind = "resource"
        now = time.time() if now is None else now
        best: CompiledRule | None = None
        deny: CompiledRule | None = None
        for rule in self.candidates(connection_id, kind, name, tags):
            if rule.expires_at is not None and rule.expires_at <= now:
                continue
            if rule.effect == DENY:
                if deny is None or rule.id < deny.id:
                    deny = rule
            elif best is None or rule.order() > best.order():
                best = rule
        if deny is not None:
            return Decision(DENY, deny.id, f"denied by rule {deny.id}", deny)
        if best is None:
            return DEFAULT_DENY
        if arguments is not None and best.checks:
            broken = violation(best.checks, arguments, resources or {})
            if broken:
                return Decision(DENY, best.id, f"{broken} (rule {best.id})", best)
        if best.effect == ASK:
            return Decision(ASK, best.id, f"rule {best.id} asks a person to approve each call", best)
        return Decision(ALLOW, best.id, f"allowed by rule {best.id}", best)


def tool_tags(definition: Mapping[str, Any]) -> frozenset[str]:
    """A tool's annotations as the matrix uses them, with the MCP spec's defaults: a tool is read-only only if it
    says so (readOnlyHint), and a tool that is not read-only is destructive unless it says it is not
    (destructiveHint defaults to true)."""
    annotations = definition.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    if annotations.get("readOnlyHint") is True:
        return frozenset({READ_ONLY})
    if annotations.get("destructiveHint", True) is not False:
        return frozenset({DESTRUCTIVE})
    return NO_TAGS
