"""Weight-only int8 for `hf/` models: the ``quantize`` option (auto, none, int8).

Decoding one token reads every weight once, so on a CPU it waits on memory:
the embedded SmolLM2-135M in fp32 reads ~540 MB per token. `Int8Linear`
stores each linear layer's weight as int8 with one scale per output row
(symmetric, round to nearest) and multiplies with torch's own CPU kernel
``torch._weight_int8pack_mm``, which reads the int8 weight directly: a step
reads a quarter of the bytes. The kernel is fast with bfloat16 activations
(with fp32 ones it is slower than fp32 weights), so a layer rounds its input
to bf16 and casts the product back to the model's dtype.

A prompt's forward pass is compute-bound, not memory-bound, and there the
kernel is slower than a bf16 matmul over the weight dequantized once for the
call; so a call with several positions per sequence (a prompt) dequantizes and
a decoding step (one position) uses the kernel. The two round differently, so
the choice follows the positions, never the row count: with a row-count rule
(it was "more than 32 rows") a decoding step of 40 rows, or a batch's short own
tails after a shared prefix, took the other path than the same row alone.

Every ``nn.Linear`` is converted, the vocabulary head included (the largest
matrix, 49152 x 576): it is tied to the input embedding, and converting it
gives the head its own int8 copy while the embedding keeps its float one (a
lookup reads one row per token, so it costs no bandwidth).

Measured by ``bench/quantize_candidates.py`` (one process, candidates
interleaved, 2-core AVX-512 CPU shared with a compile job, load average 2-4;
256-token prompts, 64 greedy tokens, decode tokens/s without the prefill,
median of 3), against fp32 with the engine's small-batch matmul:

=================  ===========  ===========  ==========================
weights            batch 1      batch 2      first 40 tokens = fp32's
=================  ===========  ===========  ==========================
fp32               15.0 tok/s   16.3 tok/s   40/40
bf16               1.47x        2.22x        31/40
int8 (this)        2.46x        3.98x        25/40 (as optimum-quanto's)
quantize_dynamic   2.70x        4.62x        2/40 (another text)
torchao int8       0.71x        1.11x        3/40
optimum-quanto     ~0.27x       not timed    25/40
=================  ===========  ===========  ==========================

torchao 0.18's ``Int8WeightOnlyConfig`` casts the whole int8 weight to the
activation dtype at every call; optimum-quanto's int8 took 3.7x fp32's time
for the 40 tokens and was not timed further; torch's ``quantize_dynamic``
also rounds the activations to int8 and changes what the model says. int8
here writes the same 40 tokens as optimum-quanto's weight-only int8: where
it leaves fp32's text is the int8 rounding, not this kernel.

Through the engine on a quieter machine (load average 1-2): ``bench/models.py``
``quantized_vs_fp32_decode`` 1.80 at batch 1 and 1.61 at batch 2 (21.0 vs
11.7 tok/s); ``bench/peer.py`` ``decode_vs_llama_cpp`` 0.44 (fp32: 0.23;
44 vs 100 tok/s); the full-mode standard bench (``bench/report.py --full
--limit 4``) gives the same figures with int8 as with fp32.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import override

from tools.settings_registry import BY_NAME

log = logging.getLogger(__name__)

#: Every value the option takes.
CHOICES: tuple[str, ...] = BY_NAME["hf_quantize"].choices
#: What ``auto`` means on a CPU: the measured winner (the table in the module docstring).
AUTO_ON_CPU = "int8"
#: The activation dtype the int8 kernel is fast with.
COMPUTE_DTYPE = torch.bfloat16


def default_quantize() -> str:
    """``$COUNCIL_HF_QUANTIZE``: what a model without the option gets (before ``auto`` resolves).

    Raises:
        ValueError: one line naming the variable for a value not in `CHOICES`.
    """
    value: str = BY_NAME["hf_quantize"].from_env()
    return value


def choose_quantize(device: str, quantize: str | None = None) -> str:
    """Resolve the option to ``none`` or ``int8``: None reads ``$COUNCIL_HF_QUANTIZE``.

    ``auto`` is `AUTO_ON_CPU` on a CPU, where decoding waits on memory, and
    none elsewhere: int8 was measured on CPU only, so elsewhere it is refused.

    Raises:
        ValueError: one line naming the option (or the variable) for a value not in
            `CHOICES`, or for int8 on a device other than the CPU.
    """
    if quantize is None or quantize == "":
        quantize = default_quantize()
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
    #: Calls with at most this many positions per sequence (a decoding step has one) use the int8
    #: kernel; more (a prompt) dequantize first. Never the number of rows: how many requests
    #: share a batch, or where a shared prefix ends, must not change a row's numbers.
    kernel_positions = 1

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        # Symmetric per-row scales: the largest magnitude of each row maps to 127.
        scales = (weight.abs().amax(dim=1) / 127).clamp(min=torch.finfo(torch.float32).tiny)
        self._set(
            torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8),
            scales.to(COMPUTE_DTYPE),
            None if linear.bias is None else linear.bias.detach().clone(),
        )

    def _set(self, qweight: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.out_features, self.in_features = qweight.shape
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", scales)
        self.register_buffer("bias", bias)

    @classmethod
    def from_parts(cls, qweight: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None) -> Int8Linear:
        """A layer over an int8 weight already made (rows x inputs), its row scales and bias."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer._set(qweight, scales, bias)
        return layer

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).to(COMPUTE_DTYPE)
        positions = x.shape[-2] if x.dim() >= 3 else 1
        if positions <= self.kernel_positions:
            y = torch._weight_int8pack_mm(rows, self.qweight, self.scales)
        else:
            # A prompt's many rows make the product compute-bound: the int8 kernel is slower
            # there than a bf16 matmul over the weight dequantized once for the call.
            y = F.linear(rows, self.qweight.to(COMPUTE_DTYPE) * self.scales[:, None])
        y = y.to(x.dtype)
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
