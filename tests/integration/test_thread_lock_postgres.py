"""One process per thread on a real PostgreSQL server: the advisory lock of graphs/thread_lock.py.

A second holder (another connection, as another process would have) is refused
with the first one's pid; closing the first connection, as a crash would, frees
the thread.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from graphs.thread_lock import ThreadBusyError, hold_thread
from tests.integration.council_cli import ROOT
from tests.integration.servers import PostgresServer

pytestmark = pytest.mark.timeout(300)


async def test_second_holder_is_refused_with_the_first_ones_pid(postgres: PostgresServer) -> None:
    async with hold_thread(postgres.url, "t1"):
        with pytest.raises(ThreadBusyError) as info:
            async with hold_thread(postgres.url, "t1"):
                pytest.fail("two holders of one thread")
        assert str(info.value) == (
            f"thread t1 is busy in another process (pid {os.getpid()}); try again when it finishes"
        )
        async with hold_thread(postgres.url, "t2"):  # other threads are free
            pass
    async with hold_thread(postgres.url, "t1"):  # released with its connection
        pass


async def test_a_killed_holder_frees_the_thread(postgres: PostgresServer) -> None:
    holder = textwrap.dedent(
        f"""
        import asyncio, time
        from graphs.thread_lock import hold_thread

        async def main():
            async with hold_thread({postgres.url!r}, "shared"):
                print("locked", flush=True)
                time.sleep(120)

        asyncio.run(main())
        """
    )
    child = subprocess.Popen([sys.executable, "-c", holder], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(ThreadBusyError) as info:
            async with hold_thread(postgres.url, "shared"):
                pass
        assert info.value.pid == child.pid
    finally:
        child.kill()
        child.wait(timeout=30)
    # The server ends the dead client's session (and its lock) once the socket closes.
    for _ in range(50):
        try:
            async with hold_thread(postgres.url, "shared"):
                return
        except ThreadBusyError:
            await asyncio.sleep(0.1)
    pytest.fail("the killed holder's lock was never released")
