"""Inference runtimes imported with their telemetry off, so nothing leaves the machine.

Both runtimes phone home unless told not to, and both decide when they load:
- `import openvino` loads its converter (openvino.tools.ovc), which sends a usage event to an
  analytics host from a forked child unless the user opted out. The converter falls back to a
  silent stub when `openvino_telemetry` cannot be imported, so that package is made
  unimportable in this process before OpenVINO loads.
- ONNX Runtime (1.31 on Linux) starts a OneDS telemetry client with its environment, which
  resolves mobile.events.data.microsoft.com; `ORT_DISABLE_TELEMETRY` stops it, and
  `disable_telemetry_events()` covers builds that ignore the variable.
tests/test_offline.py traces a build and a question at the system-call level.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


def import_runtime(package: str) -> ModuleType:
    """`import package` (openvino, onnxruntime or a submodule) with telemetry off."""
    root = package.split(".", 1)[0]
    if root == "openvino" and "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # -> ImportError
    if root == "onnxruntime":
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    __import__(package)
    module = sys.modules[package]
    if root == "onnxruntime":
        ort = sys.modules["onnxruntime"]
        if hasattr(ort, "disable_telemetry_events"):
            ort.disable_telemetry_events()
    return module
