"""Unit tier: fake models only, and no network sockets at all."""

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network():
    # Unix sockets stay allowed: asyncio's self-pipe uses a socketpair.
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture
def retriever(monkeypatch: pytest.MonkeyPatch):
    """The council graph on fixed passages (no index, no embedding model)."""
    import graphs.compliance as compliance
    from tests.unit.council_fakes import FakeRetriever

    fake = FakeRetriever()
    monkeypatch.setattr(compliance, "get_retriever", lambda settings: fake)
    # No real embedding model in unit tests: every text is the same vector, so no category matches.
    monkeypatch.setattr(compliance, "category_embed", lambda texts: [[1.0, 0.0]] * len(texts))
    return fake
