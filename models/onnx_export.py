"""ONNX export of a derived network, as ``run_apis.export`` writes it (and as ORT latency tables
time it): the TorchScript exporter, opset 17, input ``images`` and output ``logits`` with a
dynamic batch axis."""
from __future__ import annotations

import io
import warnings
from typing import BinaryIO, Union

import torch

OPSET = 17


def export_onnx(model: torch.nn.Module, dest: Union[str, BinaryIO], x: torch.Tensor, opset: int = OPSET) -> None:
    """Write ``model`` (eval mode) traced at ``x`` to ``dest`` (a path or a binary file object)."""
    model.eval()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but needs no onnxscript
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), dest, dynamo=False, opset_version=opset, input_names=["images"],
                          output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})


def onnx_bytes(model: torch.nn.Module, x: torch.Tensor, opset: int = OPSET) -> bytes:
    """The exported model as bytes (ONNX Runtime builds a session from them; no temporary file)."""
    buf = io.BytesIO()
    export_onnx(model, buf, x, opset)
    return buf.getvalue()
