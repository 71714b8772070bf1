"""The overnight queue's order and pace: round-robin by account, opg first, a sliding window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agora.core.errors import ValidationError
from agora.execution.release_queue import (
    Phase,
    QueuedOrder,
    ReleaseLimiter,
    ReleaseQueue,
    decode_entry,
    encode_entry,
)

OPEN = datetime(2025, 11, 26, 14, 30, tzinfo=UTC)
CLOSE = datetime(2025, 11, 26, 21, 0, tzinfo=UTC)
_seq = iter(range(1, 1_000_000))


def held(account: str, name: str, tif: str = "day", due: datetime = OPEN) -> QueuedOrder:
    return QueuedOrder(
        order_id=name, account_id=account, time_in_force=tif, seq=next(_seq), due=due
    )


def ids(entries: list[QueuedOrder]) -> list[str]:
    return [entry.order_id for entry in entries]


def test_round_robin_across_accounts_in_arrival_order_within_each() -> None:
    queue = ReleaseQueue()
    for entry in (
        held("a", "a1"),
        held("a", "a2"),
        held("a", "a3"),
        held("b", "b1"),
        held("c", "c1"),
        held("b", "b2"),
    ):
        queue.add(entry)
    assert ids(queue.take(2, OPEN)) == ["a1", "b1"]
    assert ids(queue.take(3, OPEN)) == ["c1", "a2", "b2"]
    assert ids(queue.take(5, OPEN)) == ["a3"]
    assert queue.take(5, OPEN) == []
    assert len(queue) == 6  # taken orders stay held until the engine forgets them


def test_opg_orders_go_first_then_the_rest() -> None:
    queue = ReleaseQueue()
    queue.add(held("a", "a1"))
    queue.add(held("b", "b1"))
    queue.add(held("b", "b_opg", "opg"))
    queue.add(held("c", "c_opg", "opg"))
    assert ids(queue.take(3, OPEN)) == ["b_opg", "c_opg", "a1"]


def test_nothing_is_released_before_it_is_due() -> None:
    queue = ReleaseQueue()
    queue.add(held("a", "a1"))
    assert queue.take(10, OPEN - timedelta(seconds=1)) == []
    assert queue.next_due((Phase.OPENING, Phase.SESSION)) == OPEN
    assert not queue.backlog(OPEN - timedelta(seconds=1))
    assert queue.backlog(OPEN)


def test_cls_orders_wait_for_the_close_only() -> None:
    queue = ReleaseQueue()
    queue.add(held("a", "a_cls", "cls", due=CLOSE))
    queue.add(held("a", "a1"))
    assert ids(queue.take(10, CLOSE)) == ["a1"]  # the session take never hands out cls
    assert not queue.closing_due(CLOSE - timedelta(seconds=1))
    assert queue.closing_due(CLOSE)
    assert ids(queue.take_closing(10, CLOSE)) == ["a_cls"]
    assert not queue.backlog(CLOSE)


def test_unreleased_day_and_opg_orders_expire_with_their_session() -> None:
    queue = ReleaseQueue()
    for entry in (
        held("a", "day"),
        held("a", "gtc", "gtc"),
        held("b", "opg", "opg"),
        held("b", "tomorrow", due=OPEN + timedelta(days=1)),
    ):
        queue.add(entry)
    assert sorted(ids(queue.take_expiring(CLOSE))) == ["day", "opg"]
    assert ids(queue.waiting()) == ["gtc", "tomorrow"]


def test_a_requeued_order_goes_back_to_its_arrival_place() -> None:
    queue = ReleaseQueue()
    first, second = held("a", "a1"), held("a", "a2")
    queue.add(first)
    queue.add(second)
    assert ids(queue.take(1, OPEN)) == ["a1"]
    queue.requeue("a1")
    assert ids(queue.take(2, OPEN)) == ["a1", "a2"]


def test_removing_forgets_a_waiting_or_taken_order() -> None:
    queue = ReleaseQueue()
    queue.add(held("a", "a1"))
    queue.add(held("a", "a2"))
    queue.take(1, OPEN)
    queue.remove("a1")
    queue.remove("a2")
    queue.remove("never")
    assert len(queue) == 0
    assert queue.take(5, OPEN) == []


def test_an_entry_survives_its_document() -> None:
    entry = held("a", "a1", "opg")
    assert decode_entry(encode_entry(entry)) == entry


def test_the_limiter_allows_the_rate_in_any_one_second() -> None:
    limiter = ReleaseLimiter(3)
    assert limiter.allowance(OPEN) == 3
    limiter.note(OPEN, 2)
    limiter.note(OPEN + timedelta(milliseconds=500), 1)
    assert limiter.allowance(OPEN + timedelta(milliseconds=999)) == 0
    assert limiter.next_slot(OPEN) == OPEN + timedelta(seconds=1)
    assert limiter.allowance(OPEN + timedelta(seconds=1)) == 2
    assert limiter.allowance(OPEN + timedelta(seconds=1, milliseconds=500)) == 3


def test_the_rate_can_be_dialled_down_at_run_time() -> None:
    limiter = ReleaseLimiter(10)
    limiter.note(OPEN, 4)
    limiter.per_second = 3
    assert limiter.allowance(OPEN) == 0
    assert limiter.allowance(OPEN + timedelta(seconds=1)) == 3


@pytest.mark.parametrize("rate", [0, -1, True, 1.5])
def test_a_rate_must_be_a_positive_whole_number(rate: object) -> None:
    with pytest.raises(ValidationError):
        ReleaseLimiter(rate)  # type: ignore[arg-type]
