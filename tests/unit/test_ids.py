"""Identifiers: unique, time-ordered, well-formed."""

from __future__ import annotations

from agora.core.ids import ID_PATTERN, SequentialIds, TimeOrderedIds


def test_time_ordered_ids_are_unique_sorted_and_well_formed() -> None:
    ids = TimeOrderedIds()
    made = [ids.new("ord") for _ in range(5_000)]  # crosses several bulk random draws
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert all(ID_PATTERN.match(i) for i in made)


def test_sequential_ids_count_up() -> None:
    ids = SequentialIds()
    assert [ids.new("acc") for _ in range(2)] == [f"acc_{1:032x}", f"acc_{2:032x}"]
