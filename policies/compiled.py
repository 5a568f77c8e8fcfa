"""The compiled policy of one agent and its pure evaluator.

Compiling turns the agent's rules into plain, immutable data; deciding is a pure function of that data and
the item asked for: default deny, a matching deny wins, otherwise a matching allow admits, and every decision
names the rule that made it. No database, no I/O: microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ALL = "all"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    allow: bool
    connection_id: int
    target: str  # "all", "tool", "resource" or "prompt"
    name: str  # "" matches every item of the target kind

    def matches(self, connection_id: int, kind: str, name: str) -> bool:
        if connection_id != self.connection_id:
            return False
        if self.target == ALL:
            return True
        if self.target != kind:
            return False
        return self.name == "" or self.name == name


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule_id: int | None  # None: nothing matched, denied by default

    @property
    def label(self) -> str:
        return "allow" if self.allowed else "deny"


DEFAULT_DENY = Decision(allowed=False, rule_id=None)


@dataclass(frozen=True)
class CompiledPolicy:
    # Rules indexed by connection, so that a decision looks only at the rules that can match.
    by_connection: dict[int, tuple[CompiledRule, ...]] = field(default_factory=dict)

    @classmethod
    def compile(cls, rules: Iterable[CompiledRule]) -> CompiledPolicy:
        grouped: dict[int, list[CompiledRule]] = {}
        for rule in rules:
            grouped.setdefault(rule.connection_id, []).append(rule)
        # Denies first so that the first match of a deny ends the search; then by id for a stable answer.
        return cls({cid: tuple(sorted(rs, key=lambda r: (r.allow, r.id))) for cid, rs in grouped.items()})

    def decide(self, connection_id: int, kind: str, name: str) -> Decision:
        """Resources and templates are both governed as kind "resource"."""
        if kind == "template":
            kind = "resource"
        allow: CompiledRule | None = None
        for rule in self.by_connection.get(connection_id, ()):
            if rule.matches(connection_id, kind, name):
                if not rule.allow:
                    return Decision(allowed=False, rule_id=rule.id)
                if allow is None or _more_specific(rule, allow):
                    allow = rule
        return Decision(allowed=True, rule_id=allow.id) if allow else DEFAULT_DENY


def _more_specific(a: CompiledRule, b: CompiledRule) -> bool:
    """The rule that names the item beats the one that names its kind, which beats the whole connection."""

    def rank(r: CompiledRule) -> int:
        return 0 if r.target == ALL else (2 if r.name else 1)

    return (rank(a), -a.id) > (rank(b), -b.id)
