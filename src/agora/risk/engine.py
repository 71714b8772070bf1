"""The risk engine: run an ordered tuple of rules and return the first denial."""

from __future__ import annotations

from collections.abc import Callable

from agora.risk.types import Denial, OrderIntent, RiskContext, RiskRule


class RiskEngine:
    """Check an order against rules in order; the first denial wins."""

    __slots__ = ("_checks", "_rules")

    def __init__(self, rules: tuple[RiskRule, ...]) -> None:
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique: {names}")
        self._rules = tuple(rules)
        # Bound methods resolved once: the hot path is one call per rule.
        self._checks: tuple[Callable[[OrderIntent, RiskContext], Denial | None], ...] = tuple(
            rule.check for rule in self._rules
        )

    @property
    def rules(self) -> tuple[RiskRule, ...]:
        """Return the rules in the order they run."""
        return self._rules

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return the first rule's denial of ``intent``, or None if every rule passes."""
        for check in self._checks:
            denial = check(intent, ctx)
            if denial is not None:
                return denial
        return None
