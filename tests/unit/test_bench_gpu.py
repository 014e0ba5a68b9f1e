"""bench/gpu.py's pure parts: device choice, timing and roofline arithmetic, ratios, budget, JSON keys."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from bench import gpu
from bench.roofline import roofline_efficiency, weights_bytes


def test_without_cuda_a_full_run_refuses_in_one_line_with_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "no CUDA device: run with --tiny for a dry run\n"


def test_a_tokenizer_folder_without_a_config_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gpu.main(["--tiny", "--tokenizer", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err == f"no config.json in {tmp_path}: make the folder with --export-tokenizer\n"
    )


def test_device_choice() -> None:
    assert gpu.pick_device("auto", tiny=False, cuda_available=True) == "cuda"
    assert gpu.pick_device("auto", tiny=True, cuda_available=True) == "cuda"
    assert gpu.pick_device("auto", tiny=True, cuda_available=False) == "cpu"
    # Forcing the CPU runs even the full shapes there.
    assert gpu.pick_device("cpu", tiny=False, cuda_available=False) == "cpu"
    assert gpu.pick_device("cpu", tiny=False, cuda_available=True) == "cpu"
    with pytest.raises(gpu.NoDevice, match=r"^no CUDA device: run with --tiny for a dry run$"):
        gpu.pick_device("auto", tiny=False, cuda_available=False)
    with pytest.raises(gpu.NoDevice, match=r"^no CUDA device: --device cuda needs one$"):
        gpu.pick_device("cuda", tiny=True, cuda_available=False)


def test_bad_options_end_in_argparse_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--shapes", "7b"], ["--new-tokens", "1"], ["--reps", "0"], ["--device", "tpu"]):
        with pytest.raises(SystemExit) as exc:
            gpu.parse_args(argv)
        assert exc.value.code == 2
        assert "error: " in capsys.readouterr().err.strip().splitlines()[-1]


def test_defaults_follow_tiny() -> None:
    full, tiny = gpu.parse_args([]), gpu.parse_args(["--tiny"])
    assert (full.prompt_tokens, full.new_tokens, full.reps, full.shapes) == (512, 128, 3, ["1.1b", "135m"])
    assert (tiny.prompt_tokens, tiny.new_tokens) == (48, 8)
    assert gpu.parse_args(["--shapes", "135m,135m"]).shapes == ["135m"]


def test_shapes_are_the_issues() -> None:
    assert gpu.shape_overrides("135m", tiny=False) == {}  # the embedded model's own config
    big = gpu.shape_overrides("1.1b", tiny=False)
    assert big == {
        "hidden_size": 2048,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 8192,
        "vocab_size": 49152,
        "head_dim": 64,
    }
    for name in gpu.SHAPES:
        tiny = gpu.shape_overrides(name, tiny=True)
        assert tiny["num_hidden_layers"] == 2
        assert tiny["head_dim"] * tiny["num_attention_heads"] == tiny["hidden_size"]


def test_roofline_arithmetic() -> None:
    # The issue's H200 row: 1.1B bf16 (2.14 GB) at 431 tok/s over 4.279 TB/s copy bandwidth is ~22 %.
    assert roofline_efficiency(2_140_000_000, 431.0, 1, 4.279e12) == pytest.approx(0.2156, abs=1e-4)
    # A batch of 8 reads the weights once per step for 8 tokens.
    assert roofline_efficiency(1000, 800.0, 8, 1e6) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="batch >= 1"):
        roofline_efficiency(1000, 1.0, 0, 1e6)


def test_weights_bytes_counts_tied_storage_once() -> None:
    import torch

    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleDict({"emb": emb, "head": head, "norm": torch.nn.LayerNorm(4)})
    assert weights_bytes(model) == (10 * 4 + 4 + 4) * 4


def test_timing_figures() -> None:
    figures = gpu.timing_figures([0.1, 0.12, 0.08], [1.37, 1.5, 1.2], batch=8, new_tokens=128)
    # Medians 0.1 and 1.37: 127 steps in 1.27 s.
    assert figures["ttft_s"] == pytest.approx(0.1)
    assert figures["ms_per_step"] == pytest.approx(10.0)
    assert figures["decode_tok_s"] == pytest.approx(800.0)
    assert figures["e2e_tok_s"] == pytest.approx(8 * 128 / 1.37)
    with pytest.raises(ValueError, match="decode not measurable"):
        gpu.timing_figures([0.5], [0.4], batch=1, new_tokens=8)


def _paths(adapter: float, generate: float | None, static: float | None) -> dict[str, Any]:
    paths: dict[str, Any] = {"adapter_auto": {"batch_1": {"decode_tok_s": adapter}}}
    for name, value in (("generate", generate), ("static_cache", static)):
        paths[name] = {} if value is None else {"batch_1": {"decode_tok_s": value}}
    return paths


def test_ratio_is_against_the_better_transformers_path() -> None:
    assert gpu.versus_best_transformers(_paths(90.0, 60.0, 450.0), 1) == {
        "ratio": pytest.approx(0.2),
        "adapter_tok_s": 90.0,
        "best": "static_cache",
        "best_tok_s": 450.0,
    }
    assert gpu.versus_best_transformers(_paths(90.0, 100.0, 45.0), 1)["best"] == "generate"


def test_no_ratio_when_a_side_is_missing() -> None:
    # Against only one of the two transformers paths the ratio would flatter the adapter.
    assert gpu.versus_best_transformers(_paths(90.0, 60.0, None), 1) is None
    assert gpu.versus_best_transformers(_paths(90.0, 60.0, 50.0), 8) is None


def _shape(ratio1: float, ratio8: float) -> dict[str, Any]:
    return {
        "paths": {
            "adapter_auto": {"load_warmup_s": 4.0, "batch_1": {"roofline_efficiency": 0.31}},
            "static_cache": {"batch_1": {"warmup_s": 40.0}},
        },
        "adapter_vs_best_transformers": {
            "batch_1": {"ratio": ratio1},
            "batch_8": {"ratio": ratio8},
        },
    }


def test_headline_figures_and_targets_name_every_shape_and_batch() -> None:
    shapes = {"1.1b": _shape(1.1, 0.9), "135m": _shape(0.2, 0.3)}
    figures = gpu.headline(shapes)
    assert figures == {
        "adapter_vs_best_transformers_1.1b_b1": 1.1,
        "adapter_vs_best_transformers_1.1b_b8": 0.9,
        "roofline_efficiency_1.1b_b1": 0.31,
        "adapter_load_warmup_s_1.1b": 4.0,
        "static_cache_warmup_s_1.1b_b1": 40.0,
        "adapter_vs_best_transformers_135m_b1": 0.2,
        "adapter_vs_best_transformers_135m_b8": 0.3,
        "roofline_efficiency_135m_b1": 0.31,
        "adapter_load_warmup_s_135m": 4.0,
        "static_cache_warmup_s_135m_b1": 40.0,
    }
    real = gpu.targets(list(shapes), tiny=False)
    assert set(real) == set(figures)
    assert real["adapter_vs_best_transformers_135m_b8"] == (">=", 1.0)
    assert real["roofline_efficiency_1.1b_b1"] == (">=", 0.3)
    assert real["roofline_efficiency_135m_b1"][1] is None
    # A dry run's figures mean nothing: no pass/fail on them.
    assert all(target is None for _, target in gpu.targets(list(shapes), tiny=True).values())


def test_headline_leaves_out_what_was_not_measured() -> None:
    shape = _shape(1.0, 1.0)
    shape["adapter_vs_best_transformers"]["batch_8"] = None
    del shape["paths"]["static_cache"]
    assert set(gpu.headline({"135m": shape})) == {
        "adapter_vs_best_transformers_135m_b1",
        "roofline_efficiency_135m_b1",
        "adapter_load_warmup_s_135m",
    }


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_measure_times_rounds_after_a_warm_up_it_reports_apart() -> None:
    clock = _Clock()
    asked: list[int] = []

    def call(n: int) -> list[int]:
        asked.append(n)
        # 10 ms of prefill and first token, 5 ms per further step; the first call also compiles 2 s.
        clock.now += 0.010 + 0.005 * (n - 1) + (2.0 if len(asked) == 1 else 0.0)
        return [n, n]

    result = gpu.measure(call, batch=2, new_tokens=17, reps=3, clock=clock)
    assert asked == [17, 1, 1, 17, 1, 17, 1, 17]
    assert result["warmup_s"] == pytest.approx(2.09)
    assert result["first_token_runs_s"] == pytest.approx([0.010] * 3)
    assert result["full_runs_s"] == pytest.approx([0.090] * 3)
    assert result["ttft_s"] == pytest.approx(0.010)
    assert result["ms_per_step"] == pytest.approx(5.0)
    assert result["decode_tok_s"] == pytest.approx(400.0)  # 2 rows x 200 steps/s


def test_measure_fails_when_a_row_stops_early() -> None:
    with pytest.raises(gpu.UnequalWork, match=r"asked for 16 tokens on 2 rows, got \[16, 9\]"):
        gpu.measure(lambda n: [n, min(n, 9)], batch=2, new_tokens=16, reps=3)
    with pytest.raises(gpu.UnequalWork):
        gpu.measure(lambda n: [n], batch=2, new_tokens=16, reps=3)


def test_budget_skips_a_section_that_would_overrun_and_lists_it() -> None:
    clock = _Clock()
    sections = gpu.Sections(budget_s=100.0, clock=clock)

    def takes(seconds: float) -> Any:
        def fn() -> str:
            clock.now += seconds
            return "ok"

        return fn

    assert sections.run("1.1b/static_cache/batch_1", "static_cache/batch_1", takes(60.0)) == "ok"
    # 60 s spent + 60 s for another of the same kind > 100 s: skipped, and said so.
    assert sections.run("135m/static_cache/batch_1", "static_cache/batch_1", takes(1.0)) is None
    # A kind not seen yet is estimated by the longest section so far, not as free.
    assert sections.run("135m/generate/batch_1", "generate/batch_1", takes(1.0)) is None
    assert [s["section"] for s in sections.skipped] == ["135m/static_cache/batch_1", "135m/generate/batch_1"]
    assert "time budget" in sections.skipped[0]["reason"]
    assert clock.now == 60.0


def test_a_failing_section_is_one_error_line_and_the_run_goes_on() -> None:
    sections = gpu.Sections(budget_s=1000.0)

    def boom() -> None:
        raise RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")

    assert sections.run("1.1b/generate/batch_8", "generate/batch_8", boom) is None
    assert sections.errors == {
        "1.1b/generate/batch_8": "RuntimeError: CUDA out of memory. Tried to allocate 2 GiB"
    }
    assert sections.run("1.1b/static_cache/batch_8", "static_cache/batch_8", lambda: 3) == 3


class _FakeChat:
    """Counts a token per word, plus a 20-token template."""

    def prompt_ids(self, messages: list[Any]) -> list[int]:
        return list(range(20 + len(messages[0].content.split())))


def test_prompts_reach_the_target_and_differ_from_the_first_word() -> None:
    prompts = gpu.prompts_for(_FakeChat(), 120)  # type: ignore[arg-type]
    assert len(prompts.messages) == len(prompts.ids) == max(gpu.BATCHES)
    assert all(len(ids) >= 120 for ids in prompts.ids)
    firsts = [m[0].content.split(".")[0] for m in prompts.messages]
    assert len(set(firsts)) == len(firsts)
    assert len({len(ids) for ids in prompts.ids}) == 1  # equal lengths: no padding on either side


def test_env_setting_sets_a_process_setting_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpu.DECODE_ENV == "COUNCIL_HF_DECODE" and gpu.CACHE_ENV == "COUNCIL_MODEL_CACHE"
    monkeypatch.setenv(gpu.DECODE_ENV, "dynamic")
    with gpu.env_setting(gpu.DECODE_ENV, "static"):
        assert os.environ[gpu.DECODE_ENV] == "static"
    assert os.environ[gpu.DECODE_ENV] == "dynamic"
    monkeypatch.delenv(gpu.DECODE_ENV)
    with pytest.raises(RuntimeError), gpu.env_setting(gpu.DECODE_ENV, "auto"):
        raise RuntimeError("a failed load")
    assert gpu.DECODE_ENV not in os.environ


def test_every_decode_mode_is_one_the_setting_accepts() -> None:
    from tools.settings_registry import BY_NAME

    assert gpu.DECODE_MODES[0] == "auto"  # the headline ratio uses the mode auto picks
    assert set(gpu.DECODE_MODES) == set(BY_NAME["hf_decode"].choices or ())


def test_left_padding() -> None:
    ids, mask = gpu.left_padded([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_json_keys_are_documented() -> None:
    doc = gpu.__doc__ or ""
    for key in itertools.chain(
        ("ttft_s", "decode_tok_s", "e2e_tok_s", "ms_per_step", "roofline_efficiency", "warmup_s"),
        ("first_token_runs_s", "full_runs_s", "generate_calls", "decode_mode", "decode_probe"),
        ("load_warmup_s", "compiled", "adapter_vs_best_transformers", "skipped", "errors"),
        ("bandwidth_bytes_per_s", "zeroed_token_ids", "weight_bytes", "decode_modes"),
    ):
        assert f"``{key}" in doc, key
