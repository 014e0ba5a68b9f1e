"""Pick where and in what precision a transformers model runs."""

from __future__ import annotations

import torch

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def choose_device(device: str | None = None) -> str:
    """Return the device to use: the override, else CUDA, Apple MPS, CPU.

    Raises:
        ValueError: for a device torch does not know or cannot use here.
    """
    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    assert device is not None
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"invalid model option device={device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"invalid model option device={device!r}: CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"invalid model option device={device!r}: Apple MPS is not available")
    return str(dev)


def choose_dtype(device: str, dtype: str | None = None) -> torch.dtype:
    """Return the dtype: the override, else bf16 on CUDA, fp16 on MPS, fp32 on CPU.

    Raises:
        ValueError: for an unknown dtype name.
    """
    if dtype in (None, "", "auto"):
        if device.startswith("cuda"):
            return torch.bfloat16
        if device.startswith("mps"):
            return torch.float16
        return torch.float32
    assert dtype is not None
    try:
        return _DTYPES[dtype.lower()]
    except KeyError:
        raise ValueError(
            f"invalid model option dtype={dtype!r}: use one of {', '.join(sorted(_DTYPES))} or auto"
        ) from None
