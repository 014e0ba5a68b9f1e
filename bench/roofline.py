"""Roofline arithmetic shared by the benchmarks: weight bytes, copy bandwidth, efficiency.

Decoding one token reads every weight once (the KV cache is small next to the
weights at these lengths), so the fastest a decode step can run is weight
bytes / memory bandwidth. The bandwidth is measured, not taken from a data
sheet: a large tensor copy on the same device, counting bytes read plus written.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import torch

#: Bytes per copy: large enough that launch and timer overheads vanish on CPU and GPU alike.
COPY_BYTES = 512 * 1024 * 1024


def weights_bytes(model: Any) -> int:
    """Bytes of all parameters and buffers, each storage counted once (tied embeddings once).

    Buffers count because int8 layers (`agents/models/hf/quantize.py`) keep their weights there.
    """
    seen: dict[int, int] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        seen[tensor.data_ptr()] = max(seen.get(tensor.data_ptr(), 0), tensor.numel() * tensor.element_size())
    return sum(seen.values())


def copy_bandwidth(device: str = "cpu", nbytes: int = COPY_BYTES, reps: int = 5) -> float:
    """Bytes per second of a tensor copy on `device`, read plus written, best of `reps`.

    On CUDA each copy is timed with CUDA events: a host timer around a
    sub-millisecond kernel would count the synchronisation too.
    """
    n = nbytes // 4
    src = torch.ones(n, dtype=torch.float32, device=device)
    dst = torch.zeros(n, dtype=torch.float32, device=device)
    dst.copy_(src)  # first touch: page faults and allocator work stay out of the timing
    best = float("inf")
    cuda = torch.device(device).type == "cuda"
    for _ in range(reps):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            dst.copy_(src)
            end.record()
            end.synchronize()
            seconds = start.elapsed_time(end) / 1e3
        else:
            started = time.perf_counter()
            dst.copy_(src)
            seconds = time.perf_counter() - started
        best = min(best, seconds)
    del src, dst
    if cuda:
        torch.cuda.empty_cache()
    return 2 * n * 4 / best


def roofline_efficiency(weight_bytes: int, decode_tok_s: float, batch: int, bandwidth: float) -> float:
    """Share of the memory bandwidth a decode rate uses: weight bytes x steps/s / bytes/s.

    A batch of `batch` rows makes `batch` tokens per step and reads the weights
    once per step, so the step rate is ``decode_tok_s / batch``.

    Raises:
        ValueError: for a non-positive batch or bandwidth.
    """
    if batch < 1 or bandwidth <= 0:
        raise ValueError(f"roofline needs batch >= 1 and bandwidth > 0, not {batch} and {bandwidth}")
    return weight_bytes * (decode_tok_s / batch) / bandwidth
