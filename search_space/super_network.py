"""The dense super network of routing blocks.

A routing block k holds one head mixed op per incoming route and ``num_layers[k]`` stack mixed
ops. Its input is sum over incoming routes (from block b) of p_b[route] * head(x_b), with
p_b = softmax(betas[b] / softmax_temp). Before each forward, :meth:`SuperNetwork.sample` (or
:meth:`SuperNetwork.set_plan`) fixes which ops run in every mixed op (the "plan"); only those run.
"""
from __future__ import annotations

import itertools
from typing import List, Optional

import torch
from torch import nn

from models.operations import OPS, Conv1x1, batch_norm, conv_bn, he_fout_init, set_bn
from search_space.chained_cost import CostTensors, chained_cost
from search_space.mixed_op import MixedOp
from search_space.sampling import kept_weights, rescale_kept, sample_ops
from search_space.topology import SearchSpace, space_from_config

MODES = ("weight", "arch", "eval")


class RoutingBlock(nn.Module):
    def __init__(self, space: SearchSpace, k: int, entangle: bool = False):
        super().__init__()
        self.sources = space.in_routes[k]
        self.head = nn.ModuleList(MixedOp(space.head_ops, space, src, k, space.stride(src, k), entangle)
                                  for src in self.sources)
        self.stack = nn.ModuleList(MixedOp(space.stack_ops, space, k, k, 1, entangle)
                                   for _ in range(space.num_layers[k]))


def _input_block(space: SearchSpace) -> nn.Module:
    if space.net_type == "mbv2":
        head = OPS["mbconv_k3_t1"](space.init_dim, space.head_dim, 1, affine=False)
        head.body[-1][1] = batch_norm(space.head_dim, affine=True)  # as the original: affine projection BN
        return nn.Sequential(conv_bn(3, space.init_dim, 3, 2, affine=False), head)
    # The original's ResNet stem BN is affine (PyTorch's default).
    return nn.Sequential(nn.Conv2d(3, space.init_dim, 3, 2, 1, bias=False), nn.BatchNorm2d(space.init_dim),
                         nn.ReLU(inplace=True))


def _rows(alphas) -> Optional[torch.Tensor]:
    """Alpha matrices of one kind stacked into (mixed ops x candidates); None when there are none."""
    mats = [a for a in alphas if a.shape[0]]
    return torch.cat(mats) if mats else None


class SuperNetwork(nn.Module):
    def __init__(self, space: SearchSpace, softmax_temp: float = 1.0, weight_sample_num: int = 1,
                 arch_sample_num: int = 2, sample_policy: str = "prob",
                 bn_momentum: float = 0.1, bn_eps: float = 1e-3, seed: int = 0, entangle: bool = False):
        super().__init__()
        self.space = space
        self.softmax_temp = softmax_temp
        self.weight_sample_num = weight_sample_num
        self.arch_sample_num = arch_sample_num
        self.sample_policy = sample_policy
        self.input_block = _input_block(space)
        self.blocks = nn.ModuleList(RoutingBlock(space, k, entangle) for k in space.routing_blocks)
        self.final_branches = nn.ModuleList(Conv1x1(space.width(src), space.width(space.final), affine=False)
                                            for src in space.in_routes[space.final])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(space.width(space.final), space.num_classes)
        he_fout_init(self)
        if space.net_type == "mbv2":
            set_bn(self, bn_momentum, bn_eps)
        else:  # the original's ResNet space never applies optim.bn_*: PyTorch's BN defaults
            set_bn(self, 0.1, 1e-5)

        def init(*shape):
            return nn.Parameter(1e-3 * torch.randn(*shape))
        self.betas = nn.ParameterList(init(len(space.out_routes[b])) for b in range(space.final))
        self.head_alphas = nn.ParameterList(init(len(space.in_routes[k]), len(space.head_ops))
                                            for k in space.routing_blocks)
        self.stack_alphas = nn.ParameterList(init(space.num_layers[k], len(space.stack_ops))
                                             for k in space.routing_blocks)
        # Route index of each (src -> dst) in betas[src], precomputed for the forward loop.
        self._route_pos = [[space.route_index(src, k) for src in space.in_routes[k]]
                           for k in range(space.final + 1)]
        self._plan = None
        self.generator = torch.Generator().manual_seed(seed)
        # First plan row of each block's heads / stack layers (the single-path forward).
        self._row_starts = tuple([0] + list(itertools.accumulate(len(getattr(b, kind)) for b in self.blocks))
                                 for kind in ("head", "stack"))

    # -- parameters ---------------------------------------------------------------------------
    def arch_parameters(self) -> List[nn.Parameter]:
        return list(self.betas) + list(self.head_alphas) + list(self.stack_alphas)

    def weight_parameters(self) -> List[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def route_probs(self) -> List[torch.Tensor]:
        """softmax(betas / softmax_temp) per source block: the temperature acts on routes only."""
        return [torch.softmax(b / self.softmax_temp, dim=-1) for b in self.betas]

    # -- plans --------------------------------------------------------------------------------
    def set_plan(self, mode: str, head_kept: torch.Tensor, stack_kept: Optional[torch.Tensor],
                 head_weights: Optional[torch.Tensor] = None, stack_weights: Optional[torch.Tensor] = None) -> None:
        """Fix the ops of the next forward. ``head_kept`` / ``stack_kept``: LongTensors
        ``[rows, k]`` in the row order of ``torch.cat(list(head_alphas))`` /
        ``torch.cat([a for a in stack_alphas if a.shape[0]])`` (``stack_kept`` None when the
        space has no stack layers). ``head_weights`` / ``stack_weights``: explicit weights of the
        kept ops (same shapes; a search method's relaxation, e.g. Gumbel-softmax) instead of the
        default softmax over the kept alphas."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        for name, kept, alphas in (("head_kept", head_kept, _rows(self.head_alphas)),
                                   ("stack_kept", stack_kept, _rows(self.stack_alphas))):
            if alphas is None:
                if kept is not None and kept.numel():
                    raise ValueError(f"{name}: the space has no such mixed ops")
                continue
            if kept is None or kept.dim() != 2 or kept.shape[0] != alphas.shape[0]:
                raise ValueError(f"{name}: expected [{alphas.shape[0]}, k] indices, got "
                                 f"{None if kept is None else tuple(kept.shape)}")
            if kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= alphas.shape[1]):
                raise ValueError(f"{name}: op index out of range 0..{alphas.shape[1] - 1}")
        head_kept = head_kept.long().cpu()
        stack_kept = stack_kept.long().cpu() if stack_kept is not None and _rows(self.stack_alphas) is not None \
            else None
        for name, w, kept in (("head_weights", head_weights, head_kept), ("stack_weights", stack_weights, stack_kept)):
            if w is not None and (kept is None or tuple(w.shape) != tuple(kept.shape)):
                raise ValueError(f"{name}: expected the shape of the kept indices "
                                 f"{None if kept is None else tuple(kept.shape)}, got {tuple(w.shape)}")
        self._plan = {"mode": mode, "head": head_kept, "stack": stack_kept, "combination": False,
                      "head_list": head_kept.tolist(), "stack_list": stack_kept.tolist() if stack_kept is not None else [],
                      "head_w": head_weights, "stack_w": stack_weights, "route_path": None}

    def restrict_to_path(self, path: List[int]) -> None:
        """Next forwards of the current plan run only the blocks and routes of ``path`` (blocks 0 ..
        final): each block's input is its route's head op times the route probability, the output
        the final branch of the last block times its weight (what ``extract_subnet`` computes)."""
        ok = path[0] == 0 and path[-1] == self.space.final and all(b in self.space.out_routes[a] for a, b in
                                                                   zip(path, path[1:]))
        if self._plan is None or self._plan["combination"] or not ok:
            raise ValueError(f"restrict_to_path: needs a set_plan() plan and a path of the space, got {path}")
        self._plan["route_path"] = list(path)

    def mixed_ops(self) -> List[MixedOp]:
        """Every mixed op in plan row order: head rows (block by block, route by route), then stack rows."""
        return ([m for block in self.blocks for m in block.head]
                + [m for block in self.blocks for m in block.stack])

    def set_combination_plan(self, mode: str, rows: list) -> None:
        """Fix a combination of ops per mixed op (NSE): ``rows[i]`` = ``(sel, unsel, gates)`` for
        mixed op i of :meth:`mixed_ops`, ``sel`` the op indices that run (empty: identity, residual
        positions only), ``unsel`` None or the second combination of an arch step, ``gates`` its two
        multipliers (see :meth:`MixedOp.forward_combination`)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        mixed = self.mixed_ops()
        if len(rows) != len(mixed):
            raise ValueError(f"expected {len(mixed)} rows, got {len(rows)}")
        for i, (m, (sel, unsel, _)) in enumerate(zip(mixed, rows)):
            for combo in (sel, unsel or ()):
                if any(not 0 <= j < len(m.candidates) for j in combo):
                    raise ValueError(f"row {i}: op index out of range 0..{len(m.candidates) - 1}")
            if not m.residual and (not sel or unsel is not None and not unsel):
                raise ValueError(f"row {i}: an empty combination in a non-residual position")
        n_head = sum(len(block.head) for block in self.blocks)
        self._plan = {"mode": mode, "combination": True, "head_rows": rows[:n_head], "stack_rows": rows[n_head:]}

    def sample(self, mode: str, uniform: bool = False) -> None:
        """Draw a plan and :meth:`set_plan` it. ``weight``: ``weight_sample_num`` ops per mixed op
        (uniform if ``uniform`` or the policy is uniform); ``arch``: ``arch_sample_num`` ops from
        softmax(alpha), without replacement, indices sorted ascending; ``eval``: every op."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        head, stack = _rows(self.head_alphas), _rows(self.stack_alphas)
        if mode == "eval":
            num_h, num_s, policy = head.shape[1], len(self.space.stack_ops), "prob"
        elif mode == "weight":
            num_h = num_s = self.weight_sample_num
            policy = "uniform" if uniform or self.sample_policy == "uniform" else "prob"
        else:
            num_h = num_s = self.arch_sample_num
            policy = "prob"
        kept_h = sample_ops(head, num_h, policy, self.generator)
        kept_s = sample_ops(stack, num_s, policy, self.generator) if stack is not None else None
        self.set_plan(mode, kept_h, kept_s)

    def _op_weights(self, alphas, kept: Optional[torch.Tensor], mode: str):
        if kept is None:
            return None
        if mode == "weight" and kept.shape[1] == 1:
            return None  # single kept op: weight exactly 1, no arch graph needed
        w = kept_weights(_rows(alphas), kept)
        return w.detach() if mode == "weight" else w

    # -- forward ------------------------------------------------------------------------------
    def forward(self, x):
        if self._plan is None:
            self.sample("eval")
        plan = self._plan
        if plan["combination"]:
            return self._forward_combination(x, plan)
        mode = plan["mode"]
        head_w = plan["head_w"] if plan["head_w"] is not None else self._op_weights(self.head_alphas, plan["head"], mode)
        stack_w = (plan["stack_w"] if plan["stack_w"] is not None
                   else self._op_weights(self.stack_alphas, plan["stack"], mode))
        route_w = self.route_probs()
        if mode == "weight":
            route_w = [w.detach() for w in route_w]
        if plan.get("route_path") is not None:
            return self._forward_path(x, plan, head_w, stack_w, route_w)
        outs = [self.input_block(x)]
        h_row = s_row = 0
        for k, block in enumerate(self.blocks, start=1):
            acc = None
            for r, (src, mixed) in enumerate(zip(block.sources, block.head)):
                y = mixed(outs[src], plan["head_list"][h_row], None if head_w is None else head_w[h_row])
                h_row += 1
                y = route_w[src][self._route_pos[k][r]] * y
                acc = y if acc is None else acc + y
            for mixed in block.stack:
                acc = mixed(acc, plan["stack_list"][s_row], None if stack_w is None else stack_w[s_row])
                s_row += 1
            outs.append(acc)
        return self._head_out(outs, route_w)

    def _forward_path(self, x, plan, head_w, stack_w, route_w):
        """Only the blocks and routes of ``plan["route_path"]`` (see :meth:`restrict_to_path`)."""
        (h_start, s_start), path, y = self._row_starts, plan["route_path"], self.input_block(x)
        for src, k in zip(path[:-2], path[1:-1]):
            block, r = self.blocks[k - 1], self.blocks[k - 1].sources.index(src)
            h = h_start[k - 1] + r
            w = None if head_w is None else head_w[h]
            y = route_w[src][self._route_pos[k][r]] * block.head[r](y, plan["head_list"][h], w)
            for s, mixed in enumerate(block.stack, start=s_start[k - 1]):
                y = mixed(y, plan["stack_list"][s], None if stack_w is None else stack_w[s])
        final, last = self.space.final, path[-2]
        probs = torch.stack([route_w[src][self._route_pos[final][r]]
                             for r, src in enumerate(self.space.in_routes[final])])
        r = self.space.in_routes[final].index(last)
        y = torch.softmax(probs, dim=0)[r] * self.final_branches[r](y)
        return self.classifier(self.pool(y).flatten(1))

    def _forward_combination(self, x, plan):
        route_w = self.route_probs()
        if plan["mode"] == "weight":
            route_w = [w.detach() for w in route_w]
        outs = [self.input_block(x)]
        h_row = s_row = 0
        for k, block in enumerate(self.blocks, start=1):
            acc = None
            for r, (src, mixed) in enumerate(zip(block.sources, block.head)):
                y = route_w[src][self._route_pos[k][r]] * mixed.forward_combination(outs[src], *plan["head_rows"][h_row])
                h_row += 1
                acc = y if acc is None else acc + y
            for mixed in block.stack:
                acc = mixed.forward_combination(acc, *plan["stack_rows"][s_row])
                s_row += 1
            outs.append(acc)
        return self._head_out(outs, route_w)

    def _head_out(self, outs, route_w):
        final = self.space.final
        # As the original: the final block weighs its branches by a softmax of the (already
        # normalised) incoming route probabilities.
        probs = torch.stack([route_w[src][self._route_pos[final][r]]
                             for r, src in enumerate(self.space.in_routes[final])])
        v = torch.softmax(probs, dim=0)
        acc = None
        for r, (src, branch) in enumerate(zip(self.space.in_routes[final], self.final_branches)):
            y = v[r] * branch(outs[src])
            acc = y if acc is None else acc + y
        return self.classifier(self.pool(acc).flatten(1))

    @torch.no_grad()
    def snapshot_alphas(self):
        return ([a.detach().clone() for a in self.head_alphas], [a.detach().clone() for a in self.stack_alphas])

    @torch.no_grad()
    def rescale_after_arch_step(self, snapshot) -> None:
        """Keep the probability of ops that were not kept in the last arch step (see sampling)."""
        old_head, old_stack = snapshot
        for params, olds, kept in ((self.head_alphas, old_head, self._plan["head"]),
                                   (self.stack_alphas, old_stack, self._plan["stack"])):
            row = 0
            for p, old in zip(params, olds):
                n = p.shape[0]
                if n:
                    rescale_kept(p.data, old, kept[row:row + n])
                row += n

    # -- cost ---------------------------------------------------------------------------------
    def op_weight_matrices(self, temperature: float = 1.0):
        head = [torch.softmax(a / temperature, dim=-1) for a in self.head_alphas]
        stack = [torch.softmax(a / temperature, dim=-1) for a in self.stack_alphas]
        return head, stack

    def expected_cost(self, cost_table, temperature: float = 1.0) -> torch.Tensor:
        """All-ops expected cost: every op weighted by softmax(alpha / temperature), routes by
        softmax(betas) (``optim.sub_obj.cost_mode: expected`` and evaluation logging)."""
        costs = self._cost_tensors(cost_table)
        head, stack = self.op_weight_matrices(temperature)
        route_w = [torch.softmax(b, dim=-1) for b in self.betas]
        return chained_cost(self.space, route_w, head, stack, costs)

    def _kept_weight_matrices(self, alphas, kept: Optional[torch.Tensor]) -> List[torch.Tensor]:
        """Per block (rows x candidates): softmax over each row's kept alphas, 0 for unkept ops."""
        sizes = [a.shape[0] for a in alphas]
        mat = _rows(alphas)
        if mat is None:
            return [a.new_zeros(a.shape) for a in alphas]
        kept = kept.to(mat.device)
        full = torch.zeros_like(mat).scatter(1, kept, kept_weights(mat, kept))
        return list(torch.split(full, sizes))

    def weighted_cost(self, cost_table, head_full: torch.Tensor, stack_full: Optional[torch.Tensor]) -> torch.Tensor:
        """Chained cost with explicit op weights over *every* op (rows x candidates, the row
        order of :meth:`set_plan`), routes by softmax(betas / softmax_temp)."""
        costs = self._cost_tensors(cost_table)
        head = list(torch.split(head_full, [a.shape[0] for a in self.head_alphas]))
        if stack_full is None:
            stack = [a.new_zeros(a.shape) for a in self.stack_alphas]
        else:
            stack = list(torch.split(stack_full, [a.shape[0] for a in self.stack_alphas]))
        return chained_cost(self.space, self.route_probs(), head, stack, costs)

    def sampled_cost(self, cost_table) -> torch.Tensor:
        """Chained cost of the current plan (the original's cost term of an arch step): each mixed
        op costs sum over its kept ops of softmax(alpha_kept) * cost, routes weigh by
        softmax(betas / softmax_temp); unkept ops contribute nothing and get no gradient."""
        if self._plan is None:
            raise RuntimeError("sampled_cost needs a plan: call sample() or set_plan() first")
        costs = self._cost_tensors(cost_table)
        head = self._kept_weight_matrices(self.head_alphas, self._plan["head"])
        stack = self._kept_weight_matrices(self.stack_alphas, self._plan["stack"])
        return chained_cost(self.space, self.route_probs(), head, stack, costs)

    def _cost_tensors(self, cost_table) -> CostTensors:
        if isinstance(cost_table, CostTensors):
            return cost_table
        device = self.betas[0].device
        cache = getattr(self, "_cost_cache", None)
        if cache is None or cache[0] is not cost_table or cache[1] != device:
            self._cost_cache = (cost_table, device, CostTensors.from_table(cost_table, self.space, device))
        return self._cost_cache[2]


def build_super_network(cfg, seed: Optional[int] = None) -> SuperNetwork:
    """Super network of a validated search config."""
    sp = cfg.search_params
    net = SuperNetwork(space_from_config(cfg), softmax_temp=sp.softmax_temp,
                       weight_sample_num=sp.weight_sample_num, arch_sample_num=sp.arch_sample_num,
                       sample_policy=sp.sample_policy, bn_momentum=cfg.optim.bn_momentum,
                       bn_eps=cfg.optim.bn_eps, seed=cfg.train_params.seed if seed is None else seed,
                       entangle=bool(sp.weight_sharing.entangle))
    if sp.weight_sharing.entangle and sp.weight_sharing.depthwise_init == "fan_hidden":
        from search_space.entangled import scale_depthwise_to_fan_hidden
        scale_depthwise_to_fan_hidden(net)
    return net
