"""The storage contract against the in-memory adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agora.storage import MemoryStore

from .storage_contract import Store, StoreContract


class TestMemoryStore(StoreContract):
    """MemoryStore keeps the storage contract."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        """Yield an empty memory store."""
        store = MemoryStore()
        yield store
        await store.close()
