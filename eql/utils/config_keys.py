"""Declared config keys: a key's type, allowed values and reason in one place, from which its
check (and, for eql's own keys, its default and comment) are made.

``Key("SOLVER.IMS_PER_BATCH", int, ">= 1", "images per batch over all processes")`` says that
the value must be an integer of at least 1; the check refuses anything else with one line naming
the key, the rule and the reason. Numbers must be finite unless the rule says otherwise
(``inf_ok``); ``also`` lists values allowed outside the range, each with its meaning (``-1``:
keep all). A rule is one of ``any`` (any finite number), ``>= a``, ``> a``, ``<= a``, ``< a``,
``[a, b]``, ``(a, b]``, ``[a, b)``, ``(a, b)``, or a tuple of choices. ``seq`` keys hold a list
of such numbers (``seq=2``: a list of lists).
"""

import math
import re
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ..errors import ConfigError

_INTERVAL = re.compile(r"^([\[(])\s*(\S+)\s*,\s*(\S+)\s*([\])])$")
_BOUND = re.compile(r"^(>=|>|<=|<)\s*(\S+)$")
_KIND_NAMES = {int: "an integer", float: "a number", bool: "True or False", str: "a string"}


@dataclass(frozen=True)
class Key:
    """One config key: ``name`` (full, or relative to a loss's node), its ``kind`` (int, float,
    bool, str), the ``rule`` its values obey, the ``doc`` that says what it is and why the rule;
    ``default`` for keys eql adds."""

    name: str
    kind: type
    rule: Any = "any"
    doc: str = ""
    default: Any = None
    also: Tuple[Tuple[Any, str], ...] = ()  # (value, meaning) allowed outside the rule
    seq: int = 0  # 1: a list of values; 2: a list of lists
    length: Optional[int] = None  # a seq key's (outer) length
    none_ok: bool = False  # None is allowed (and means what the doc says)
    inf_ok: bool = False  # +inf is allowed (and means what the doc says)

    def describe(self) -> str:
        """The rule in words: 'an integer >= 1', 'a number in (0, 1]', 'one of [...]'."""
        if isinstance(self.rule, tuple):
            text = f"one of {list(self.rule)}"
        elif self.kind in (bool, str):
            text = _KIND_NAMES[self.kind]
        else:
            what = _KIND_NAMES[self.kind] + ("" if self.rule == "any" else " ")
            rule = "" if self.rule == "any" else self.rule
            text = what + (f"in {rule}" if rule[:1] in "[(" else rule)
            text += "" if not self.inf_ok else " (inf allowed)"
        if self.also:
            text += " or " + ", ".join(f"{v} ({meaning})" for v, meaning in self.also)
        if self.none_ok:
            text += " or None"
        if self.seq:
            text = ("a list of lists" if self.seq == 2 else "a list") + f" of {text}"
            if self.length is not None:
                text += f", {self.length} long"
        return text

    def check(self, value, full_name: Optional[str] = None) -> None:
        """Raises ConfigError naming the key when ``value`` breaks the rule."""
        name = full_name or self.name
        if not self.allows(value):
            reason = f" ({self.doc})" if self.doc else ""
            raise ConfigError(f"{name}: must be {self.describe()}{reason}, got {value!r}")

    def allows(self, value) -> bool:
        """Whether ``value`` obeys the rule."""
        if value is None:
            return self.none_ok
        if not self.seq:
            return self._valid_item(value)
        if not isinstance(value, (list, tuple)):
            return False
        if self.length is not None and len(value) != self.length:
            return False
        if self.seq == 2:
            return all(
                isinstance(v, (list, tuple)) and all(self._valid_item(x) for x in v) for v in value
            )
        return all(self._valid_item(v) for v in value)

    def _valid_item(self, value) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is str:
            return isinstance(value, str) and (
                not isinstance(self.rule, tuple) or value in self.rule
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if any(value == v for v, _ in self.also):
            return True
        if isinstance(self.rule, tuple):
            return value in self.rule
        if math.isnan(value) or (math.isinf(value) and not (self.inf_ok and value > 0)):
            return False
        return _in_rule(value, self.rule)


def _in_rule(value, rule: str) -> bool:
    rule = rule.strip()
    if rule == "any":
        return True
    m = _BOUND.match(rule)
    if m:
        op, bound = m.group(1), float(m.group(2))
        return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[
            op
        ]
    m = _INTERVAL.match(rule)
    if not m:
        raise ValueError(f"unknown rule {rule!r}")
    lo_br, lo, hi, hi_br = m.group(1), float(m.group(2)), float(m.group(3)), m.group(4)
    above = value >= lo if lo_br == "[" else value > lo
    below = value <= hi if hi_br == "]" else value < hi
    return above and below


def config_value(cfg, name: str):
    """The value of the dotted key ``name`` in ``cfg`` (KeyError naming the missing part)."""
    node = cfg
    for part in name.split("."):
        node = node[part]
    return node


def check_keys(cfg, keys, prefix: str = "") -> None:
    """Checks the value of every key of ``keys`` in ``cfg`` (names relative to ``prefix``)."""
    for key in keys:
        name = prefix + key.name
        key.check(config_value(cfg, name), name)
