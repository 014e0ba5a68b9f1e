"""Weight-only int8 for `hf/` models: the ``quantize`` option (auto, none, int8).

Decoding one token reads every weight once, so on a CPU it waits on memory:
the embedded SmolLM2-135M in fp32 reads ~540 MB per token. `Int8Linear`
stores each linear layer's weight as int8 with one scale per output row
(symmetric, round to nearest) and multiplies with torch's own CPU kernel
``torch._weight_int8pack_mm``, which reads the int8 weight directly: a step
reads a quarter of the bytes. The kernel is fast with bfloat16 activations
(with fp32 ones it is slower than fp32 weights), so a layer rounds its input
to bf16 and casts the product back to the model's dtype.

Every ``nn.Linear`` is converted, the vocabulary head included (the largest
matrix, 49152 x 576): it is tied to the input embedding, and converting it
gives the head its own int8 copy while the embedding keeps its float one (a
lookup reads one row per token, so it costs no bandwidth).

Why not a library: torchao 0.18's ``Int8WeightOnlyConfig`` casts the whole
int8 weight to the activation dtype at every call, and optimum-quanto's int8
ran ~5x slower than fp32; ``bench/quantize_candidates.py`` measured them side
by side (figures in `AUTO_ON_CPU`).
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from typing_extensions import override

from tools.settings_registry import BY_NAME

log = logging.getLogger(__name__)

#: Every value the option takes.
CHOICES: tuple[str, ...] = BY_NAME["hf_quantize"].choices
#: What ``auto`` means on a CPU: the measured winner (see the module docstring).
AUTO_ON_CPU = "int8"
#: The activation dtype the int8 kernel is fast with.
COMPUTE_DTYPE = torch.bfloat16


def choose_quantize(device: str, quantize: str | None = None) -> str:
    """Resolve the option to ``none`` or ``int8``: None reads ``$COUNCIL_HF_QUANTIZE``.

    ``auto`` is `AUTO_ON_CPU` on a CPU, where decoding waits on memory, and
    none elsewhere: int8 was measured on CPU only, so elsewhere it is refused.

    Raises:
        ValueError: one line naming the option (or the variable) for a value not in
            `CHOICES`, or for int8 on a device other than the CPU.
    """
    if quantize is None or quantize == "":
        setting = BY_NAME["hf_quantize"]
        quantize = setting.from_env()
        if quantize.strip().lower() not in CHOICES:
            raise ValueError(f"invalid value for ${setting.env}: {quantize!r} (expected {setting.expected})")
    elif not isinstance(quantize, str) or quantize.strip().lower() not in CHOICES:
        raise ValueError(f"invalid model option quantize={quantize!r}: use one of {', '.join(CHOICES)}")
    quantize = quantize.strip().lower()
    if quantize == "auto":
        return AUTO_ON_CPU if device == "cpu" else "none"
    if quantize == "int8" and device != "cpu":
        raise ValueError(
            f"invalid model option quantize='int8': int8 runs on the CPU only, not device={device}"
        )
    return quantize


class Int8Linear(nn.Module):
    """A linear layer with an int8 weight and one scale per output row."""

    qweight: torch.Tensor
    scales: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        # Symmetric per-row scales: the largest magnitude of each row maps to 127.
        scales = (weight.abs().amax(dim=1) / 127).clamp(min=torch.finfo(torch.float32).tiny)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("qweight", torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales.to(COMPUTE_DTYPE))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).to(COMPUTE_DTYPE)
        y = torch._weight_int8pack_mm(rows, self.qweight, self.scales).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)

    @override
    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_model(model: nn.Module, quantize: str) -> int:
    """Swap `model`'s linear layers for `Int8Linear` when `quantize` is ``int8`` (in place).

    Returns:
        How many layers were converted (0 for ``none``).
    """
    if quantize == "none":
        return 0
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear)
    ]
    for parent, name, child in targets:
        setattr(parent, name, Int8Linear(child))
    return len(targets)
