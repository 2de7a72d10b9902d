"""Machine fingerprints: what a latency table's numbers depend on besides the network.

A table records the fingerprint of the machine it was measured on (``meta.machine``); tools that
price networks with it compare that with the machine they run on and print one warning line
naming the command that recalibrates the table here. Tables measured before fingerprints existed
are compared on the fields their metadata has (``device`` as the CPU or GPU name, ``torch``).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import torch

# fields that change what a network costs; threads is a measurement setting, recorded but not compared
COMPARED = ("cpu_model", "cpu_capability", "cores", "cuda_device", "torch", "onnxruntime")


def cpu_model() -> str:
    from common.device import device_name
    return device_name(torch.device("cpu"))


def cpu_capability() -> str:
    """The SIMD level PyTorch dispatches CPU kernels for (``AVX512``, ``AVX2``, ``DEFAULT`` ...). Two
    VMs can share a CPU model name and differ here (measured: AVX-512 hidden by the hypervisor made
    eager Fashion-MNIST nets ~2x slower than the table built with it)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # older torch
        return "unknown"


def machine_fingerprint(device_type: str = "cpu", runtime: str = "torch", threads: Optional[int] = None) -> Dict:
    """This machine's fingerprint for a table measured on ``device_type`` with ``runtime``."""
    fp = {"cpu_model": cpu_model(), "cpu_capability": cpu_capability(), "cores": os.cpu_count(), "threads": threads,
          "torch": torch.__version__}
    if runtime == "onnxruntime":
        import onnxruntime
        fp["onnxruntime"] = onnxruntime.__version__
    if device_type == "cuda" and torch.cuda.is_available():
        fp["cuda_device"] = torch.cuda.get_device_name()
    return fp


def table_fingerprint(meta: Dict) -> Dict:
    """The recorded fingerprint of a table: ``meta.machine``, else what older metadata says."""
    if isinstance(meta.get("machine"), dict):
        return dict(meta["machine"])
    if meta.get("source") != "run_apis.latency_measure":  # converted legacy tables: another project's machine
        return {}
    fp = {"torch": meta.get("torch")}
    fp["cuda_device" if meta.get("device_type") == "cuda" else "cpu_model"] = meta.get("device")
    return {k: v for k, v in fp.items() if v is not None}


def differences(recorded: Dict, here: Dict) -> List[Tuple[str, object, object]]:
    """(field, recorded, here) for each compared field both fingerprints have and that differs."""
    return [(k, recorded[k], here.get(k)) for k in COMPARED
            if recorded.get(k) is not None and k in here and recorded[k] != here.get(k)]


def mismatch_warning(meta: Dict, table_path: str) -> Optional[str]:
    """One line when the table's machine differs from this one (None when it matches or is unknown)."""
    recorded = table_fingerprint(meta)
    if not recorded or meta.get("units") not in (None, "ms"):
        return None
    here = machine_fingerprint(meta.get("device_type") or "cpu", meta.get("runtime") or "torch")
    if meta.get("device_type") == "cuda" and "cuda_device" not in here:
        here["cuda_device"] = "no CUDA device"
    diff = differences(recorded, here)
    if not diff:
        return None
    what = "; ".join(f"{k} {a} there, {b} here" for k, a, b in diff)
    return (f"warning: latency table {table_path} was measured on another machine ({what}); its milliseconds may "
            f"not hold here. Recalibrate it on this machine: python -m run_apis.latency_measure --recalibrate "
            f"{table_path}")


_WARNED = set()


def warn_if_foreign(meta: Dict, table_path: str, stream=None) -> Optional[str]:
    """Print :func:`mismatch_warning` once per table path and process (to stderr); returns it."""
    import sys
    line = mismatch_warning(meta, table_path)
    if line and table_path not in _WARNED:
        _WARNED.add(table_path)
        print(line, file=stream or sys.stderr)
    return line
