"""Unit tier: fake models only, and no network sockets at all."""

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network():
    # Unix sockets stay allowed: asyncio's self-pipe uses a socketpair.
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture(autouse=True)
def _fresh_preflights():
    # Preflights are remembered per process; each test starts as a fresh process would.
    from agents.models.preflight import forget_preflights

    forget_preflights()
    yield
    forget_preflights()


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


@pytest.fixture
def cli_run(monkeypatch: pytest.MonkeyPatch, retriever, tmp_path, capsys):
    """Run the CLI in-process on the fake model, with a SQLite thread database in tmp_path.

    Returns ``go(*args, stdin=None, db_arg=<the database>)`` -> (status, stdout, stderr);
    ``db_arg=None`` leaves ``--db`` out.
    """
    import graphs.cli as cli
    from tests.unit.council_fakes import Pipe, ScriptedChatModel, use_model

    use_model(monkeypatch, ScriptedChatModel())

    async def no_preload(ctx, live=None) -> None:
        return None

    monkeypatch.setattr(cli, "_preload", no_preload)
    db = tmp_path / "threads.sqlite"

    def go(*args: str, stdin=None, db_arg: str | None = str(db)) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", stdin or Pipe(""))
        head = ["--db", db_arg] if db_arg is not None else []
        status = cli.main([*head, "--mode", "workflow", "--quiet", *args])
        out, err = capsys.readouterr()
        return status, out, err

    return go
