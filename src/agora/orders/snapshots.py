"""Split the stored snapshot between lanes: each lane takes only its own accounts."""

from __future__ import annotations

from collections.abc import Callable

from agora.ledger import is_customer, parse_ledger_account
from agora.orders.ports import LaneSnapshot


def split_snapshot(snapshot: LaneSnapshot, owns: Callable[[str], bool]) -> LaneSnapshot:
    """Return the part of ``snapshot`` that belongs to accounts ``owns`` accepts."""

    def owned_ledger_account(account: str) -> bool:
        return is_customer(account) and owns(parse_ledger_account(account)[1])

    return LaneSnapshot(
        accounts=[a for a in snapshot.accounts if owns(a.account_id)],
        balances={k: v for k, v in snapshot.balances.items() if owned_ledger_account(k)},
        open_holds=[h for h in snapshot.open_holds if owned_ledger_account(h.debit_account)],
        open_orders=[o for o in snapshot.open_orders if owns(o.account_id)],
        client_order_ids={k: v for k, v in snapshot.client_order_ids.items() if owns(k[0])},
        client_transfers=[
            t for t in snapshot.client_transfers if owns(t.transfer_id.split(":", 1)[0])
        ],
    )
