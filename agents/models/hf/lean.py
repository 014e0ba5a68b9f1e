"""A leaner decoding step for Llama models: fused projections, no per-layer module plumbing.

A CPU decoding step of the embedded SmolLM2-135M spent ~10 ms in its weight
matmuls and ~10 ms more around them (torch profiler, int8, batch 1): seven
projection calls per layer, each with its own casts and kernel start, and
transformers' layer, attention and hook wrappers around ~60 small ops. llama.cpp
does the whole step in ~10 ms on the same cores (``bench/peer.py``).

`LeanStep` runs the same arithmetic with less around it:

- q, k and v are one matmul over their weights stacked, and so are gate and
  up: 4 projection calls per layer instead of 7. Each output row is the same
  dot product either way, so the logits are the same bits (tested); the
  model's own projection modules keep working on views of the stacked weights
  (no second copy), and the prompt still goes through transformers' forward.
- Everything else is the model's own code, called directly: its norms,
  rotary embedding, activation, attention function and causal mask.

Only the model classes checked in `LeanStep.build` qualify (Llama: SmolLM2,
TinyLlama, Llama 2/3 shapes; Qwen2 and Qwen2.5 without sliding-window layers);
anything else returns None and keeps transformers' forward.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn
from transformers.cache_utils import Cache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from agents.models.hf.quantize import COMPUTE_DTYPE, Int8Linear

log = logging.getLogger(__name__)

#: Model classes whose layers `LeanStep` reproduces exactly (class names, as transformers has them).
SUPPORTED = {
    "LlamaForCausalLM": ("LlamaDecoderLayer", "LlamaAttention", "LlamaMLP"),
    # Qwen2 is Llama with biased q/k/v projections and optional sliding-window layers (not covered).
    "Qwen2ForCausalLM": ("Qwen2DecoderLayer", "Qwen2Attention", "Qwen2MLP"),
}


def fuse_linears(linears: list[Any]) -> tuple[nn.Module, list[int]] | None:
    """One layer computing every layer of `linears` at once (same input); None when they differ in kind.

    The stacked weight replaces each original's: they become views of it, so
    the originals compute what they did and memory is not doubled.

    Returns:
        The fused layer and each original's output width, in order.
    """
    kind = type(linears[0])
    if any(type(m) is not kind for m in linears):
        return None
    widths = [int(m.out_features) for m in linears]
    biases = [m.bias for m in linears]
    if any((b is None) != (biases[0] is None) for b in biases):
        return None
    bias = None if biases[0] is None else torch.cat([b.detach() for b in biases if b is not None])
    fused: nn.Module
    if issubclass(kind, Int8Linear):
        qweight = torch.cat([m.qweight for m in linears])
        scales = torch.cat([m.scales for m in linears])
        fused = Int8Linear.from_parts(qweight, scales, bias)
        for m, rows in zip(linears, _row_slices(widths), strict=True):
            m.qweight, m.scales = qweight[rows], scales[rows]
            if bias is not None:
                m.bias = bias[rows]
    elif issubclass(kind, nn.Linear):
        weight = torch.cat([m.weight.detach() for m in linears])
        fused = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
        fused.__class__ = kind  # keeps a small-batch matmul swap (see decode.py)
        fused.weight = nn.Parameter(weight, requires_grad=False)
        if bias is not None:
            fused.bias = nn.Parameter(bias, requires_grad=False)
        for m, rows in zip(linears, _row_slices(widths), strict=True):
            m.weight = nn.Parameter(weight[rows], requires_grad=False)
            if bias is not None:
                m.bias = nn.Parameter(bias[rows], requires_grad=False)
    else:
        return None
    return fused, widths


def _row_slices(widths: list[int]) -> list[slice]:
    slices, start = [], 0
    for width in widths:
        slices.append(slice(start, start + width))
        start += width
    return slices


Projection = Callable[[torch.Tensor], torch.Tensor]


def projection(layer: nn.Module, into_sum: bool = False) -> Projection:
    """`layer`'s forward for a decoding step's few rows; int8 layers call their kernel directly.

    Same arithmetic as `Int8Linear.forward` on a decoding step (one position a
    row, the kernel), without its module call and reshapes: ~120 of these run per token.
    With `into_sum` the output is only ever added to fp32 (the residual stream), so
    an int8 layer without bias leaves it in bf16: the addition widens it exactly,
    as the cast it saves would.
    """
    if not isinstance(layer, Int8Linear):
        return layer
    qweight, scales, bias = layer.qweight, layer.scales, layer.bias
    kernel = torch._weight_int8pack_mm
    keep = into_sum and bias is None

    def forward(x: torch.Tensor) -> torch.Tensor:
        y = kernel(x.reshape(-1, x.shape[-1]).to(COMPUTE_DTYPE), qweight, scales)
        if not keep:
            y = y.to(x.dtype)
        if bias is not None:
            y = y + bias
        return y.reshape(*x.shape[:-1], -1)

    return forward


class _Layer(NamedTuple):
    """What one decoder layer's step uses, looked up once."""

    attention: nn.Module
    input_norm: tuple[torch.Tensor, float]
    qkv: Projection
    widths: list[int]  # q, k, v output widths
    o: Projection
    post_norm: tuple[torch.Tensor, float]
    gate_up: Projection
    half: int  # gate's width
    act: Callable[[torch.Tensor], torch.Tensor]
    down: Projection


def _norm(module: Any) -> tuple[torch.Tensor, float]:
    return module.weight, float(module.variance_epsilon)


def rms_norm(x: torch.Tensor, norm: tuple[torch.Tensor, float]) -> torch.Tensor:
    """Llama's RMSNorm of fp32 `x`, op for op (its float casts are no-ops there)."""
    weight, eps = norm
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


class LeanStep:
    """One decoding step (one new token per row) of a supported model, with fused projections."""

    def __init__(
        self, model: Any, fused: list[tuple[tuple[nn.Module, list[int]], tuple[nn.Module, list[int]]]]
    ):
        self.model = model
        self.inner = model.model
        modeling = sys.modules[type(model).__module__]
        first = self.inner.layers[0].self_attn
        self.head_dim = int(first.head_dim)
        self.attention = ALL_ATTENTION_FUNCTIONS.get_interface(
            model.config._attn_implementation, modeling.eager_attention_forward
        )
        self.layers = [
            _Layer(
                attention=layer.self_attn,
                input_norm=_norm(layer.input_layernorm),
                qkv=projection(qkv),
                widths=qkv_widths,
                o=projection(layer.self_attn.o_proj, into_sum=True),
                post_norm=_norm(layer.post_attention_layernorm),
                gate_up=projection(gate_up),
                half=gate_up_widths[0],
                act=layer.mlp.act_fn,
                down=projection(layer.mlp.down_proj, into_sum=True),
            )
            for layer, ((qkv, qkv_widths), (gate_up, gate_up_widths)) in zip(
                self.inner.layers, fused, strict=True
            )
        ]
        self.final_norm = _norm(self.inner.norm)
        self.head = projection(model.lm_head)

    @classmethod
    def build(cls, model: Any) -> LeanStep | None:
        """Fuse `model`'s projections (in place) and return its step; None for a model it does not cover."""
        layer_names = SUPPORTED.get(type(model).__name__)
        inner = getattr(model, "model", None)
        if layer_names is None or inner is None or not hasattr(inner, "layers"):
            return None
        for layer in inner.layers:
            names = (type(layer).__name__, type(layer.self_attn).__name__, type(layer.mlp).__name__)
            if names != layer_names or getattr(layer.self_attn, "sliding_window", None) is not None:
                return None
        if getattr(model.config, "pretraining_tp", 1) != 1 or model.dtype != torch.float32:
            # The norms below skip Llama's casts, which only fp32 activations make no-ops.
            return None
        fused = []
        for layer in inner.layers:
            attention, mlp = layer.self_attn, layer.mlp
            qkv = fuse_linears([attention.q_proj, attention.k_proj, attention.v_proj])
            gate_up = fuse_linears([mlp.gate_proj, mlp.up_proj])
            if qkv is None or gate_up is None:
                # Layers fused so far keep computing what they did (views); the model keeps its forward.
                log.info("lean decoding step: %s has projections of mixed kinds", type(model).__name__)
                return None
            fused.append((qkv, gate_up))
        return cls(model, fused)

    def __call__(
        self, ids: torch.Tensor, positions: torch.Tensor, cache: Cache, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Logits for the next token of each row: `ids` and `positions` are (rows, 1).

        `attention_mask` is the 2-D mask over the cache plus this token (None:
        no padding anywhere), as `generate` would pass it.
        """
        hidden = self.inner.embed_tokens(ids)
        rows = ids.shape[0]
        mask = None
        if attention_mask is not None:
            mask = create_causal_mask(
                config=self.model.config,
                inputs_embeds=hidden,
                attention_mask=attention_mask,
                cache=cache,
                position_ids=positions,
            )
        cos, sin = self.inner.rotary_emb(hidden, position_ids=positions)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        # Llama's rotate_half(x) * sin is cat(-x2, x1) * sin: the same products as
        # roll(x) * cat(-sin1, sin2), in one op a layer instead of four.
        half = self.head_dim // 2
        sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)
        head_dim, attend = self.head_dim, self.attention
        # Transformers' per-call bookkeeping (lazy layers, GPU offloading) has nothing to do here.
        layers: Any = cache.layers if not getattr(cache, "offloading", False) else None
        for index, layer in enumerate(self.layers):
            q_width, k_width, _ = layer.widths
            qkv = layer.qkv(rms_norm(hidden, layer.input_norm))
            # q and k rotate together: the same elementwise ops as Llama's apply_rotary_pos_emb.
            qk = qkv[..., : q_width + k_width].view(rows, 1, -1, head_dim).transpose(1, 2)
            qk = (qk * cos) + (qk.roll(half, dims=-1) * sin)
            q_heads = q_width // head_dim
            q, k = qk[:, :q_heads], qk[:, q_heads:]
            v = qkv[..., q_width + k_width :].view(rows, 1, -1, head_dim).transpose(1, 2)
            if layers is not None and index < len(layers):
                k, v = layers[index].update(k, v)
            else:
                k, v = cache.update(k, v, index)
            out, _ = attend(layer.attention, q, k, v, mask, dropout=0.0, scaling=layer.attention.scaling)
            hidden = hidden + layer.o(out.reshape(rows, 1, -1).contiguous())
            gate_up = layer.gate_up(rms_norm(hidden, layer.post_norm))
            hidden = hidden + layer.down(layer.act(gate_up[..., : layer.half]) * gate_up[..., layer.half :])
        logits: torch.Tensor = self.head(rms_norm(hidden, self.final_norm))
        return logits[:, -1]
