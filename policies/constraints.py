"""Argument constraints: declarative data a tenant writes, compiled once on the server into plain checks.

A constraint names an argument (a dotted path into the call's arguments) or a resource kind (every argument the
tool declares as that kind in its catalogue entry's ``resources``), and one operation:

    {"argument": "repo", "op": "one_of", "values": ["acme/web", "acme/api"]}
    {"resource": "repository", "op": "glob", "values": ["acme/*"]}
    {"argument": "owner", "op": "prefix", "values": ["acme-"]}
    {"argument": "branch", "op": "regex", "pattern": "release-[0-9]+"}
    {"argument": "limit", "op": "range", "min": 1, "max": 20}
    {"argument": "to", "op": "email_domain", "values": ["acme.com"]}
    {"argument": "force", "op": "absent"}        {"argument": "reason", "op": "present"}

A list value passes when each of its elements passes (recipients, labels). A constrained argument that is missing
is refused (fail closed), except by ``absent``. Nothing here is ever code or an ORM lookup: the operations are a
closed set, and a regex is anchored and checked for constructs that backtrack badly before it is accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policies import regex_guard

OPS = ("one_of", "glob", "prefix", "regex", "range", "email_domain", "present", "absent")
LIST_OPS = ("one_of", "glob", "prefix", "email_domain")
MAX_CONSTRAINTS = 20
MAX_VALUES = 500
MAX_VALUE_CHARS = 500
MAX_INPUT_CHARS = 1000  # a longer argument value is refused, so that no check ever runs long
MAX_LIST_ITEMS = 1000
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")
_KIND = re.compile(r"^[a-z][a-z_]{0,31}$")
_ADDRESS = re.compile(r"^[^@\s<>,;]{1,200}@([A-Za-z0-9.-]{1,253})$")
_MISSING = object()


class ConstraintError(ValueError):
    """A constraint that cannot be compiled; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Check:
    """One compiled constraint: where its values come from and a test of one scalar value."""

    argument: tuple[str, ...]  # the dotted path, or () for a resource constraint
    resource: str  # the resource kind, or ""
    op: str
    test: Callable[[Any], bool]
    wants: str  # how a refusal describes the expectation: "one of acme/web, acme/api"


def _strings(raw: dict, field: str = "values") -> list[str]:
    values = raw.get(field)
    if not isinstance(values, list) or not values:
        raise ConstraintError(f"{raw.get('op')}: give a non-empty list of {field}.")
    if len(values) > MAX_VALUES:
        raise ConstraintError(f"{raw.get('op')}: at most {MAX_VALUES} values.")
    out = []
    for value in values:
        if not isinstance(value, str) or not value or len(value) > MAX_VALUE_CHARS:
            raise ConstraintError(f"{raw.get('op')}: each value is a non-empty string of at most {MAX_VALUE_CHARS}.")
        out.append(value)
    return out


def _number(raw: dict, field: str) -> float | None:
    value = raw.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConstraintError(f"range: {field} must be a number.")
    return float(value)


def _preview(values: list[str], limit: int = 5) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" (and {len(values) - limit} more)" if len(values) > limit else "")


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value if len(value) <= MAX_INPUT_CHARS else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def wildcard_match(pattern: str, text: str) -> bool:
    """``*`` any run of characters, ``?`` one character; the two-pointer matcher, no regex, no blow-up."""
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark, p = p, t, p + 1
        elif star != -1:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def glob_match(pattern: str, text: str) -> bool:
    """Globs over paths: ``*`` and ``?`` stay within one ``/`` segment; a final ``/**`` matches everything below."""
    deep = pattern.endswith("/**")
    parts = pattern[:-3].split("/") if deep else pattern.split("/")
    segments = text.split("/")
    if deep:
        if len(segments) <= len(parts) or not "/".join(segments[len(parts) :]):
            return False  # something below, not the folder itself
        segments = segments[: len(parts)]
    elif len(segments) != len(parts):
        return False
    return all(wildcard_match(p, s) for p, s in zip(parts, segments, strict=True))


def _compile_op(raw: dict) -> tuple[Callable[[Any], bool], str]:
    op = raw.get("op")
    if op == "one_of":
        allowed = frozenset(_strings(raw))
        return (lambda v: (s := _text(v)) is not None and s in allowed), f"one of {_preview(sorted(allowed))}"
    if op == "prefix":
        prefixes = tuple(_strings(raw))
        return (lambda v: (s := _text(v)) is not None and s.startswith(prefixes)), (
            f"starting with {_preview(list(prefixes))}"
        )
    if op == "glob":
        globs = _strings(raw)
        for g in globs:
            if "**" in (g[:-3] if g.endswith("/**") else g):
                raise ConstraintError("glob: ** may only end a pattern, as in shared/**.")
        exact = frozenset(g for g in globs if not any(c in g for c in "*?"))
        wild = tuple(g for g in globs if g not in exact)

        def test(v: Any) -> bool:
            s = _text(v)
            return s is not None and (s in exact or any(glob_match(g, s) for g in wild))

        return test, f"matching {_preview(globs)}"
    if op == "regex":
        pattern = raw.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ConstraintError("regex: give a pattern.")
        try:
            compiled = regex_guard.compile_safe(pattern)
        except regex_guard.UnsafePattern as exc:
            raise ConstraintError(f"regex: {exc}") from None
        return (lambda v: (s := _text(v)) is not None and compiled.fullmatch(s) is not None), (
            f"matching the pattern {pattern}"
        )
    if op == "range":
        low, high = _number(raw, "min"), _number(raw, "max")
        if low is None and high is None:
            raise ConstraintError("range: give min, max or both.")
        if low is not None and high is not None and low > high:
            raise ConstraintError("range: min is above max.")

        def in_range(v: Any) -> bool:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                return False
            return (low is None or v >= low) and (high is None or v <= high)

        bounds = [f"at least {_num(low)}"] if low is not None else []
        bounds += [f"at most {_num(high)}"] if high is not None else []
        return in_range, "a number " + " and ".join(bounds)
    if op == "email_domain":
        domains = frozenset(d.lower().lstrip("@") for d in _strings(raw))

        def addresses_ok(v: Any) -> bool:
            s = _text(v)
            if s is None:
                return False
            parts = [p.strip() for p in s.split(",")]
            for part in parts:
                found = _ADDRESS.match(part)
                if found is None:
                    return False
                domain = found.group(1).lower()
                if domain not in domains and not any(d.startswith("*.") and domain.endswith(d[1:]) for d in domains):
                    return False
            return True

        return addresses_ok, f"an address at {_preview(sorted(domains))}"
    if op == "present":
        return (lambda v: True), "present"
    if op == "absent":
        return (lambda v: False), "absent"
    raise ConstraintError(f"op must be one of {', '.join(OPS)}.")


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def compile_one(raw: Any) -> Check:
    if not isinstance(raw, dict):
        raise ConstraintError("Each constraint is an object.")
    argument, resource = raw.get("argument"), raw.get("resource")
    if (argument is None) == (resource is None):
        raise ConstraintError("Each constraint names either an argument or a resource kind.")
    path: tuple[str, ...] = ()
    if argument is not None:
        if not isinstance(argument, str) or not argument:
            raise ConstraintError("argument: give the argument's name (a dotted path for a nested one).")
        path = tuple(argument.split("."))
        if len(path) > 5 or not all(_PATH_SEGMENT.match(p) for p in path):
            raise ConstraintError(f"argument {argument[:80]!r}: use names of letters, digits, _ and -, at most 5 deep.")
    elif not isinstance(resource, str) or not _KIND.match(resource):
        raise ConstraintError("resource: give a resource kind such as repository or folder.")
    test, wants = _compile_op(raw)
    return Check(argument=path, resource=resource or "", op=raw["op"], test=test, wants=wants)


def normalize(raw: Any) -> list[dict]:
    """The constraints as stored: validated (raises ConstraintError) and reduced to the known fields."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ConstraintError("Constraints are a list.")
    if len(raw) > MAX_CONSTRAINTS:
        raise ConstraintError(f"At most {MAX_CONSTRAINTS} constraints per rule.")
    out = []
    for item in raw:
        compile_one(item)
        keep = {k: item[k] for k in ("argument", "resource", "op", "values", "pattern", "min", "max") if k in item}
        out.append(keep)
    return out


def compile_all(raw: list[dict]) -> tuple[Check, ...]:
    return tuple(compile_one(c) for c in raw or ())


def _lookup(arguments: dict, path: tuple[str, ...]) -> Any:
    value: Any = arguments
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return f"'{text[:80]}{'…' if len(text) > 80 else ''}'"


def _check_value(check: Check, name: str, value: Any) -> str | None:
    if check.op == "absent":
        return None if value is _MISSING else f"argument {name} must be absent"
    if value is _MISSING or value is None:
        return f"argument {name} is missing (it must be {check.wants})"
    if check.op == "present":
        return None
    values = value if isinstance(value, list) else [value]
    if len(values) > MAX_LIST_ITEMS:
        return f"argument {name} has more than {MAX_LIST_ITEMS} items"
    for item in values:
        if not check.test(item):
            return f"argument {name} {_show(item)} is not {check.wants}"
    return None


def violation(checks: tuple[Check, ...], arguments: dict, resources: dict[str, str]) -> str | None:
    """The first constraint the arguments break, described for a person; None when they keep every one.

    ``resources`` maps the tool's argument names to the resource kinds they name (its catalogue declaration).
    """
    for check in checks:
        if check.argument:
            reason = _check_value(check, ".".join(check.argument), _lookup(arguments, check.argument))
            if reason:
                return reason
            continue
        for name, kind in resources.items():
            if kind == check.resource:
                reason = _check_value(check, name, arguments.get(name, _MISSING))
                if reason:
                    return reason
    return None


def admits(checks: tuple[Check, ...], kind: str, value: Any) -> bool:
    """Whether a listed resource of ``kind`` may be shown: every resource constraint of that kind admits it."""
    return all(
        check.test(value) for check in checks if check.resource == kind and check.op not in ("present", "absent")
    )
