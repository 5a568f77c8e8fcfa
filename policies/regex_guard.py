"""Regular expressions a tenant may write into a constraint, refused unless their matching cost is bounded.

Python's ``re`` backtracks, so ``(a+)+b`` or ``a*a*a*b`` on a long run of ``a`` takes exponential or high
polynomial time. Rather than time a match out, a pattern is parsed and accepted only when it cannot backtrack
badly:

- no back-references, no lookarounds, no conditional groups;
- a repeat applies to one character or character class (``[a-z]+``), or to a group a fixed number of times
  (``(ab){2}``): no optional or repeated groups, hence no nested repeats and no alternation under a repeat;
- a repeat of variable length (``+``, ``*``, ``?``, ``{1,5}``) is followed by a character it cannot match
  (``[a-z]+/``), or ends the pattern: giving characters back can then never let the rest match, so each repeat
  backtracks at most its own length;
- alternations multiply to at most ``MAX_PATHS`` ways through the pattern, at most ``MAX_PATTERN`` characters.

Together with the cap on the input's length (constraints.MAX_INPUT_CHARS), a match costs O(paths * length).
The pattern is always matched whole (``fullmatch``): an implicit anchor on both ends.
"""

from __future__ import annotations

import functools
import re
from re import _constants as C
from re import _parser as parser

MAX_PATTERN = 200
MAX_COUNT = 1000
MAX_PATHS = 64
# Characters used to decide whether two character sets overlap: ASCII, Latin-1 and Latin Extended, a few digits
# and spaces of other scripts (\d and \s are Unicode-aware).
PROBES = [chr(c) for c in range(0x250)] + ["\u0660", "\u0966", "\u2003", "\u3000", "\u4e00"]
_SINGLE = {C.LITERAL, C.NOT_LITERAL, C.IN, C.ANY}
_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT}
_END = {C.AT_END, C.AT_END_STRING}


class UnsafePattern(ValueError):
    pass


def _category(cat, ch: str) -> bool:
    word = ch.isalnum() or ch == "_"
    table = {
        C.CATEGORY_DIGIT: ch.isdecimal(),
        C.CATEGORY_NOT_DIGIT: not ch.isdecimal(),
        C.CATEGORY_SPACE: ch.isspace(),
        C.CATEGORY_NOT_SPACE: not ch.isspace(),
        C.CATEGORY_WORD: word,
        C.CATEGORY_NOT_WORD: not word,
    }
    return table.get(cat, True)  # anything unknown: assume it matches (the safe direction)


def _in(items, ch: str) -> bool:
    negate = False
    hit = False
    for op, av in items:
        if op == C.NEGATE:
            negate = True
        elif op == C.LITERAL:
            hit = hit or ch == chr(av)
        elif op == C.RANGE:
            hit = hit or av[0] <= ord(ch) <= av[1]
        elif op == C.CATEGORY:
            hit = hit or _category(av, ch)
        else:
            hit = True
    return hit != negate


def _charset(item, ignore_case: bool) -> frozenset[str]:
    op, av = item
    out = set()
    for ch in PROBES:
        variants = {v for v in (ch, ch.lower(), ch.upper()) if len(v) == 1} if ignore_case else {ch}
        for c in variants:
            if (
                (op == C.LITERAL and c == chr(av))
                or (op == C.NOT_LITERAL and c != chr(av))
                or (op == C.ANY)
                or (op == C.IN and _in(av, c))
            ):
                out.add(ch)
    return frozenset(out)


def _first(item, ignore_case: bool) -> frozenset[str] | None:
    """The characters ``item`` can start with, or None when it may match nothing (or we cannot tell)."""
    op, av = item
    if op in _SINGLE:
        return _charset(item, ignore_case)
    if op in _REPEATS and av[0] >= 1:
        return _first(av[2][0], ignore_case) if len(av[2]) else None
    if op == C.SUBPATTERN and len(av[3]):
        return _first(av[3][0], ignore_case)
    if op == C.BRANCH:
        sets = [_first(b[0], ignore_case) if len(b) else None for b in av[1]]
        return None if any(s is None for s in sets) else frozenset().union(*sets)
    return None


def _walk(seq, top: bool, ignore_case: bool) -> int:
    """Checks one sequence; returns how many ways through it alternations allow."""
    items = list(seq)
    paths = 1
    for i, (op, av) in enumerate(items):
        if op in (C.GROUPREF, C.GROUPREF_EXISTS, C.ASSERT, C.ASSERT_NOT):
            raise UnsafePattern("back-references and lookarounds are not allowed.")
        if op == C.BRANCH:
            paths *= sum(_walk(b, False, ignore_case) for b in av[1])
        elif op in (C.SUBPATTERN, C.ATOMIC_GROUP):
            paths *= _walk(av[3] if op == C.SUBPATTERN else av, False, ignore_case)
        elif op in _REPEATS:
            low, high, body = av
            if high is not C.MAXREPEAT and high > MAX_COUNT:
                raise UnsafePattern(f"a repeat counts at most {MAX_COUNT}.")
            single = len(body) == 1 and body[0][0] in _SINGLE
            if not single:
                if low != high:
                    raise UnsafePattern("optional or repeated groups are not allowed; repeat a character class.")
                paths *= _walk(body, False, ignore_case)
                continue
            if low == high:
                continue
            rest = items[i + 1 :]
            if not rest or all(o == C.AT and a in _END for o, a in rest):
                if top:
                    continue
                raise UnsafePattern(
                    "a repeat like [a-z]+ inside a group must be followed by a character it cannot match."
                )
            after = _first(rest[0], ignore_case)
            if after is None or after & _charset(body[0], ignore_case):
                raise UnsafePattern(
                    "a repeat like [a-z]+ must be followed by a character it cannot match (as in [a-z]+/), or end "
                    "the pattern."
                )
        if paths > MAX_PATHS:
            raise UnsafePattern(f"at most {MAX_PATHS} alternatives in all.")
    return paths


@functools.lru_cache(maxsize=4096)
def compile_safe(pattern: str) -> re.Pattern:
    """The compiled pattern, or UnsafePattern saying what to change."""
    if len(pattern) > MAX_PATTERN:
        raise UnsafePattern(f"use at most {MAX_PATTERN} characters.")
    try:
        parsed = parser.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UnsafePattern(f"not a valid regular expression ({exc}).") from None
    if compiled.flags & (re.VERBOSE | re.MULTILINE):
        raise UnsafePattern("the verbose and multiline flags are not allowed.")
    _walk(parsed, True, bool(compiled.flags & re.IGNORECASE))
    return compiled
