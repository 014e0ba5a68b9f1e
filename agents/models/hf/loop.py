"""The engine's own decoding loop on the lean step, in place of transformers' `generate`.

On a 2-core CPU `generate` added ~5 ms to every ~22 ms token of the embedded
model (stopping checks, input preparation, a 4-D mask and a growing attention
mask per step, the streamer), on top of the step itself. `decode_rows` does
what the engine asked `generate` for and nothing else:

- the prompt goes through the model's own forward (transformers' code, its
  causal mask and the int8 layers' prompt path), positions taken from the
  attention mask as `generate` takes them;
- each further token is one `LeanStep` call;
- the same logits processors `generate` builds for these settings
  (repetition penalty, temperature, top-p), greedy argmax or multinomial
  sampling, finished rows fed padding;
- each row streams and stops through its `Row`, as with `BatchStreamer` and
  `RowsDone`.

Greedy output equals `generate`'s token for token (tests, tiny model and the
embedded one). Models whose generation config asks for more processors than
these keep `generate` (`covers`).
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import torch
from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from agents.models.hf.lean import LeanStep
from agents.models.hf.rows import Row, Sampling

#: Generation-config fields this loop honours or overrides (everything else makes `generate` run).
_KNOWN = {
    "_from_model_config",
    "transformers_version",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "decoder_start_token_id",
    "do_sample",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "max_length",
    "max_new_tokens",
    "use_cache",
    "output_attentions",
    "output_hidden_states",
    "return_dict_in_generate",
    "cache_implementation",
}


def covers(model: Any) -> bool:
    """True when `model`'s generation config sets nothing this loop would leave out."""
    config = getattr(model, "generation_config", None)
    if config is None:
        return True
    return set(config.to_diff_dict()) <= _KNOWN


def processors(sampling: Sampling, attention_mask: torch.Tensor) -> LogitsProcessorList:
    """The logits processors `generate` builds for `sampling`, in its order."""
    found = LogitsProcessorList()
    if sampling.repetition_penalty != 1.0:
        penalty: dict[str, Any] = {}
        if "prompt_ignore_length" in inspect.signature(RepetitionPenaltyLogitsProcessor).parameters:
            # As generate: the left padding of each row is not part of its prompt.
            penalty["prompt_ignore_length"] = (attention_mask != 0).int().argmax(dim=1)
        found.append(RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty, **penalty))
    if sampling.temperature > 0:
        if sampling.temperature != 1.0:
            found.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_p < 1.0:
            found.append(TopPLogitsWarper(top_p=sampling.top_p, min_tokens_to_keep=1))
    return found


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Each token's position: its count of unmasked tokens so far, 0 on padding (as `generate`)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def decode_rows(
    model: Any,
    step: LeanStep,
    ids: torch.Tensor,
    attention_mask: torch.Tensor,
    cache: Any,
    rows: list[Row],
    *,
    max_new_tokens: int,
    pad_id: int,
) -> None:
    """Generate for `rows` until each has finished or `max_new_tokens` came (cf. `generate`).

    `ids` and `attention_mask` are the batch laid out by `batch_layout`;
    `cache` may already hold a prefix every row shares (its length is skipped).
    Tokens reach each row through `Row.push`.
    """
    sampling = rows[0].req.sampling
    warp = processors(sampling, attention_mask)
    positions = positions_from_mask(attention_mask)
    past = cache.get_seq_length()
    padded = bool((attention_mask == 0).any())
    # Every token so far, as the processors see them (`generate`'s growing input_ids).
    seen = torch.full(
        (ids.shape[0], ids.shape[1] + max_new_tokens), pad_id, dtype=torch.long, device=ids.device
    )
    seen[:, : ids.shape[1]] = ids
    length = ids.shape[1]
    mask = torch.ones_like(seen)
    mask[:, :length] = attention_mask
    unfinished = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
    with torch.inference_mode():
        logits = model(
            input_ids=ids[:, past:],
            attention_mask=attention_mask,
            position_ids=positions[:, past:],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits[:, -1]
        position = positions[:, -1:]
        for done in range(max_new_tokens):
            scores = warp(cast(torch.LongTensor, seen[:, :length]), logits.to(dtype=torch.float32, copy=True))
            if sampling.temperature > 0:
                token = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
            else:
                token = torch.argmax(scores, dim=-1)
            token = torch.where(unfinished, token, pad_id)
            seen[:, length] = token
            length += 1
            for row, value in zip(rows, token.tolist(), strict=True):
                row.push(int(value))
            still = [row.finish is None and not row.req.cancelled.is_set() for row in rows]
            if not any(still) or done + 1 == max_new_tokens:
                return
            unfinished = torch.tensor(still, dtype=torch.bool, device=ids.device)
            position = position + 1
            logits = step(token[:, None], position, cache, mask[:, :length] if padded else None)
