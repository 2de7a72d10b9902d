"""Zero-cost proxies: scores of an untrained network that are meant to rank architectures by the
accuracy they reach once trained. Written from the papers:

* **synflow** (Tanaka et al., NeurIPS 2020, "Pruning neural networks without any data by
  iteratively conserving synaptic flow"): R = 1^T (prod_l |theta^[l]|) 1, the output of the network
  with every weight replaced by its absolute value and the nonlinearities removed, on an all-ones
  input; score = sum over parameters of |theta| * dR/d|theta|. Here: a copy of the net in float64,
  ReLU/ReLU6 replaced by the identity (all values are positive, so this is the linear network of
  the formula: ReLU6 would otherwise clip), BN in eval mode (at init: an affine identity up to eps).
  The log of the score is returned (scores span many orders of magnitude).
* **NASWOT** (Mellor et al., ICML 2021, "Neural Architecture Search without Training"): for a
  mini-batch of N images, each image's binary code c_i says which ReLU units are active (> 0);
  K_H[i, j] = N_A - Hamming(c_i, c_j) (N_A units); score = log |det K_H|.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

ACTIVATIONS = (nn.ReLU, nn.ReLU6)


def _linearized(model: nn.Module) -> nn.Module:
    """A float64 copy with every ReLU/ReLU6 replaced by the identity and weights made positive."""
    net = copy.deepcopy(model).double().eval()
    for name, module in list(net.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, ACTIVATIONS):
                setattr(module, child_name, nn.Identity())
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    return net


def synflow(model: nn.Module, input_shape) -> float:
    """log of the synflow score of ``model`` (see the module doc); ``input_shape`` (C, H, W)."""
    net = _linearized(model)
    net.zero_grad(set_to_none=True)
    out = net(torch.ones((1,) + tuple(input_shape), dtype=torch.float64))
    out.sum().backward()
    score = sum(float((p.detach() * p.grad).abs().sum()) for p in net.parameters() if p.grad is not None)
    return float(torch.log(torch.tensor(score, dtype=torch.float64))) if score > 0 else float("-inf")


def naswot(model: nn.Module, images: torch.Tensor) -> float:
    """log |det K_H| of ``model`` at its current weights on the batch ``images`` (train-mode BN,
    no gradient; the model's BN running statistics are left as they were)."""
    net = copy.deepcopy(model).train()
    codes = []

    def hook(_module, _inputs, output):
        codes.append((output.detach() > 0).flatten(1).to(torch.float64))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with torch.no_grad():
            net(images)
    finally:
        for h in handles:
            h.remove()
    if not codes:
        raise ValueError("naswot: the model has no ReLU/ReLU6 units")
    c = torch.cat(codes, dim=1)
    k = c @ c.t() + (1 - c) @ (1 - c).t()  # units where both codes agree = N_A - Hamming distance
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if float(sign) != 0 else float("-inf")
