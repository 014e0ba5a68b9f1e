"""Compare weight formats for CPU decoding of the embedded model, side by side in one process.

Run from the repository root (several minutes on two cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/quantize_candidates.py

This is the measurement behind `agents/models/hf/quantize.py`'s default. Each
candidate is the embedded SmolLM2-135M-Instruct loaded afresh and converted:

- ``fp32``: what the engine ran before (with its small-batch matmul probe);
- ``bf16``: the same weights cast to bfloat16 (probe as well);
- ``int8pack``: `agents.models.hf.quantize` (what ``quantize=int8`` runs):
  int8 weights with per-row scales through ``torch._weight_int8pack_mm``, bf16
  activations, every linear layer, the tied ``lm_head`` included (the
  embedding keeps its fp32 copy);
- ``torchao_int8``: torchao's ``Int8WeightOnlyConfig`` on every linear layer,
  when torchao is importable (not a dependency: ``pip install torchao==0.18.0``);
- ``dynamic_int8``: ``torch.ao.quantization.quantize_dynamic`` (fbgemm int8
  weights and activations);
- ``quanto_int8``: optimum-quanto ``qint8`` weights, when it is importable
  (``pip install --target DIR optimum-quanto`` and DIR on ``PYTHONPATH``).

Candidates run interleaved (order reversed every round) so a background job
loads them alike. Per candidate: load-and-convert seconds, decode tokens/s at
batch 1 and 2 (256-token prompts, 64 greedy new tokens; decode excludes the
prefill, measured by a 1-token run), median of `REPS`, and the share of the
first 40 greedy tokens of a compliance prompt equal to fp32's (that run's
seconds too: a candidate over `SLOW` times fp32's is left out of the timed
rounds). The last stdout line is a JSON object of every figure, with
``os.getloadavg()`` per round. The figures of the run that chose the default
are in `agents/models/hf/quantize.py`.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.common import log, quiet_transformers  # noqa: E402

PROMPT_TOKENS = 256
NEW_TOKENS = 64
REPS = 3
QUALITY_TOKENS = 40
#: A candidate this many times slower than fp32 on the quality run is not timed further.
SLOW = 3.0
QUALITY_PROMPT = (
    "Draft three requirements for an AI-compliance standard covering the transparency of a "
    "chatbot used in hospital triage. Number them and give one sentence of rationale each."
)
FILLER = (
    "An AI-compliance standard sets duties for providers of high-risk systems: risk management, "
    "data governance, technical documentation, record keeping, transparency to users, human "
    "oversight, accuracy, robustness and cybersecurity. "
)


def _convert_torchao(model: Any) -> Any:
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantize_(model, Int8WeightOnlyConfig())
    return model


def _convert_int8pack(model: Any) -> Any:
    from agents.models.hf.quantize import quantize_model

    quantize_model(model, "int8")
    return model


def _convert_dynamic(model: Any) -> Any:
    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _convert_quanto(model: Any) -> Any:
    from optimum.quanto import freeze, qint8, quantize

    quantize(model, weights=qint8)
    freeze(model)
    return model


def candidates() -> dict[str, tuple[torch.dtype, Callable[[Any], Any] | None, bool]]:
    """Name -> (load dtype, conversion, whether the small-batch matmul probe applies)."""
    found: dict[str, tuple[torch.dtype, Callable[[Any], Any] | None, bool]] = {
        "fp32": (torch.float32, None, True),
        "bf16": (torch.bfloat16, None, True),
        "int8pack": (torch.float32, _convert_int8pack, False),
        "dynamic_int8": (torch.float32, _convert_dynamic, False),
    }
    if importlib.util.find_spec("torchao"):
        found["torchao_int8"] = (torch.float32, _convert_torchao, False)
    if importlib.util.find_spec("optimum") and importlib.util.find_spec("optimum.quanto"):
        found["quanto_int8"] = (torch.float32, _convert_quanto, False)
    return found


def load(
    path: Path, dtype: torch.dtype, convert: Callable[[Any], Any] | None, probe: bool
) -> tuple[Any, float]:
    """The model in `dtype`, converted, and the seconds loading plus converting took."""
    from transformers import AutoModelForCausalLM

    from agents.models.hf.decode import use_small_batch_matmul

    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    if convert is not None:
        model = convert(model)
    if probe:
        use_small_batch_matmul(model, 8)
    return model, time.perf_counter() - started


def generate(model: Any, ids: torch.Tensor, new: int, eos: int) -> tuple[float, list[list[int]]]:
    """Seconds of one greedy generate making exactly `new` tokens per row, and the new tokens."""
    from agents.models.hf.decode import greedy_tokens

    started = time.perf_counter()
    tokens = greedy_tokens(model, ids, new, eos)
    return time.perf_counter() - started, tokens.tolist()


def main() -> int:
    """Measure every candidate and print the JSON line."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quiet_transformers()
    from transformers import AutoTokenizer

    from agents.models.hf.embedded import ensure_embedded_model

    path = ensure_embedded_model()
    tokenizer = AutoTokenizer.from_pretrained(path)
    eos = int(tokenizer.eos_token_id)
    filler = tokenizer(FILLER * 20, add_special_tokens=False)["input_ids"]
    batch1 = torch.tensor([filler[:PROMPT_TOKENS]])
    batch2 = torch.tensor([filler[:PROMPT_TOKENS], filler[7 : 7 + PROMPT_TOKENS]])
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUALITY_PROMPT}], add_generation_prompt=True, tokenize=False
    )
    chat_ids = torch.tensor([tokenizer(chat, add_special_tokens=False)["input_ids"]])

    found = candidates()
    models: dict[str, Any] = {}
    result: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads(), "load_s": {}}
    for name, (dtype, convert, probe) in found.items():
        log(f"loading {name}")
        try:
            models[name], result["load_s"][name] = load(path, dtype, convert, probe)
        except Exception as exc:  # a candidate that does not work here is a finding, not a crash
            result.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
            log(f"  {name} failed: {exc}")
    names = list(models)

    texts: dict[str, list[int]] = {}
    result["quality_run_s"] = {}
    for name in names:
        generate(models[name], chat_ids, 2, eos)  # first-call overheads out of the timing
        result["quality_run_s"][name], (texts[name],) = generate(models[name], chat_ids, QUALITY_TOKENS, eos)
        log(f"  {name} ({result['quality_run_s'][name]:.1f}s): {tokenizer.decode(texts[name])!r}")
    result["quality_match_vs_fp32"] = {
        name: sum(a == b for a, b in zip(texts[name], texts["fp32"], strict=True)) / QUALITY_TOKENS
        for name in names
    }
    result["quality_text"] = {name: tokenizer.decode(texts[name]) for name in names}

    # A candidate over SLOW times fp32's time for the quality run is out of the race; timing
    # it 12 times more would take most of the run (optimum-quanto: minutes per request).
    slow = [n for n in names if result["quality_run_s"][n] > SLOW * result["quality_run_s"]["fp32"]]
    result["not_timed_too_slow"] = slow
    for name in slow:
        log(f"  {name} is over {SLOW}x slower than fp32 on the quality run: not timed further")
    names = [n for n in names if n not in slow]
    runs = {
        f"{name}/{label}/{new}": (models[name], ids, new)
        for name in names
        for label, ids in (("b1", batch1), ("b2", batch2))
        for new in (1, NEW_TOKENS)
    }
    for model, ids, _ in runs.values():  # warm-up
        generate(model, ids, 4, eos)
    times: dict[str, list[float]] = {key: [] for key in runs}
    result["loadavg"] = []
    for rep in range(REPS):
        order = list(runs) if rep % 2 == 0 else list(reversed(runs))
        for key in order:
            model, ids, new = runs[key]
            times[key].append(generate(model, ids, new, eos)[0])
        result["loadavg"].append(os.getloadavg())
        log(f"  round {rep + 1}/{REPS} done, load {os.getloadavg()}")
    med = {key: statistics.median(ts) for key, ts in times.items()}
    decode = {}
    for name in names:
        for label, rows in (("b1", 1), ("b2", 2)):
            seconds = med[f"{name}/{label}/{NEW_TOKENS}"] - med[f"{name}/{label}/1"]
            decode[f"{name}/{label}"] = rows * (NEW_TOKENS - 1) / seconds
    result["decode_tok_s"] = decode
    result["vs_fp32"] = {key: value / decode[f"fp32/{key.split('/')[1]}"] for key, value in decode.items()}
    result["runs_s"] = times
    for key, value in decode.items():
        log(f"  {key}: {value:.1f} tok/s ({result['vs_fp32'][key]:.2f}x fp32)")
    gc.collect()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
