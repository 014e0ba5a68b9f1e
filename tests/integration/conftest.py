"""Integration tier: the real embedded model, real servers on 127.0.0.1."""

from collections.abc import Iterator

import pytest

from tests.integration.servers import PostgresServer, PostgresUnavailable


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


# -- the embedded hf/ model ----------------------------------------------------------

#: Small on purpose: CPU decode of the 135M model runs at ~17 tokens/s.
EMBEDDED_TEST_MAX_NEW_TOKENS = 24


@pytest.fixture(scope="session")
def embedded_model():
    """The real embedded model (greedy, short replies), loaded once for the whole session."""
    from agents.models.hf import ChatLocalHF

    model = ChatLocalHF(model="embedded", max_new_tokens=EMBEDDED_TEST_MAX_NEW_TOKENS)
    model.engine()  # load (and convert on a fresh machine) up front, not inside a timed test
    return model


@pytest.fixture(scope="session")
def embedded_engine(embedded_model):
    """The shared `Engine` behind `embedded_model`."""
    return embedded_model.engine()


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for one test module; skips, saying why, where none can run."""
    reason = PostgresServer.unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        with PostgresServer() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
