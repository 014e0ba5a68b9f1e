"""Unit tier: fake models only, and no network sockets at all."""

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network():
    # Unix sockets stay allowed: asyncio's self-pipe uses a socketpair.
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
