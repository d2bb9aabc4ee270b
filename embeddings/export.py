"""The bundled transformer as an ONNX file, exported here from the local weights, once.

ONNX Runtime and OpenVINO run an ONNX graph, and no package ships one for all-MiniLM-L6-v2.
Exporting needs torch (a dependency already) for a few seconds; the file is cached in a user
folder under the weights' content hash, so every later process, index and query skips torch.
Nothing is downloaded: the graph is traced from the weights on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

from embeddings.quiet import import_runtime
from qa.errors import ModelNotAvailableError

log = logging.getLogger(__name__)

# Bump when the exported graph changes (inputs, outputs, opset), so old caches are not reused.
EXPORT_VERSION = 1
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def cache_root() -> Path:
    """`$TQA_MODEL_CACHE`, else `$XDG_CACHE_HOME/transcript-qa`, else `~/.cache/transcript-qa`."""
    if os.environ.get("TQA_MODEL_CACHE"):
        return Path(os.environ["TQA_MODEL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "transcript-qa"


def weights_file(model_dir: Path) -> Path:
    for name in _WEIGHTS:
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelNotAvailableError(f"{model_dir} holds no model weights ({' or '.join(_WEIGHTS)})")


def model_digest(model_dir: Path) -> str:
    """Content hash of the weights and config; remembered per (path, size, mtime) so a cold
    query does not read 90 MB to find its cached graph."""
    weights = weights_file(model_dir)
    stat = weights.stat()
    stamp = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo = cache_root() / "digests.json"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if stamp in known:
        return str(known[stamp])
    h = hashlib.blake2b(digest_size=8)
    with weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    config = model_dir / "config.json"
    if config.is_file():
        h.update(config.read_bytes())
    digest = h.hexdigest()
    known[stamp] = digest
    try:
        _write_atomic(memo, json.dumps(known, indent=1).encode("utf-8"))
    except OSError as exc:  # a read-only cache only costs the hashing next time
        log.debug("could not remember the model digest: %s", exc)
    return digest


def onnx_path(model_dir: Path, *, int8: bool = False) -> Path:
    """The cached ONNX graph of `model_dir` (fp32, or dynamically quantised int8), made if new."""
    folder = cache_root() / "onnx" / f"{model_dir.name}-{model_digest(model_dir)}-v{EXPORT_VERSION}"
    fp32 = folder / "model.onnx"
    if not fp32.is_file():
        log.info("Exporting %s to ONNX (once; cached in %s)", model_dir.name, folder)
        _export(model_dir, fp32)
    if not int8:
        return fp32
    quantised = folder / "model-int8.onnx"
    if not quantised.is_file():
        log.info("Quantising %s to int8 (once; cached in %s)", model_dir.name, folder)
        _quantise(fp32, quantised)
    return quantised


def _export(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    # Eager attention: the SDPA path drops an all-ones mask, and a trace would freeze that.
    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    # A padded dummy batch, so the traced graph keeps the padding mask.
    ids = torch.tensor([[101, 2023, 2003, 102], [101, 2023, 102, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, OUTPUT)}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / target.name
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about constant Python branches
            torch.onnx.export(
                Hidden(),
                (ids, mask, types),
                str(staged),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(staged, target)


def _quantise(source: Path, target: Path) -> None:
    import_runtime("onnxruntime")  # first, so its telemetry is off before it loads
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / target.name
        quantize_dynamic(str(source), str(staged), weight_type=QuantType.QInt8)
        os.replace(staged, target)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
