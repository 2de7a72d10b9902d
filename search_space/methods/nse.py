"""NSE's ideas (Ci et al., ICCV 2021; orashi/NSE_NAS ``AMBNet``, ``main.py``) on the dense routing
space: the layers' ops are searched NSE's way, the routes stay DenseNAS's.

* **gates**: every op of a mixed op has its own probability p = sigmoid(alpha) * 0.999 + 5e-4
  (alpha starts at 0); a layer may keep several ops (a multi-branch layer: the mean of the ops,
  residual positions (x + sum of bodies) / (n + 1), none = identity, residual positions only);
* **weight steps** ("balanced"): each op of the layer's current subset is on with probability
  0.5, ignoring the gates (redrawn until one is on, except in residual positions);
* **arch steps**: two distinct combinations per layer from the gates' joint distribution
  (search_space.methods.nse_parts.two_combinations); output = the selected one's, gradient to the gates through
  both (search_space.methods.nse_parts.pair_gates; the other runs without grad); routes softmax(beta /
  softmax_temp) as DenseNAS; cost term (``optim.sub_obj``) of the chained cost under the same
  weights; Adam with ``search_params.nse.adam_betas`` (0, 0.999);
* **evolution rounds**: each layer searches a random subset of ``subset_size`` ops of its pool
  (the space's ops, skip_connect aside: an empty combination is the skip). During a round an op
  whose alpha falls below ``drop_alpha`` is dropped unless it was kept from the previous round.
  At the end of a round the search loop samples ``arch_samples`` architectures in the cost window
  and evaluates them one-shot (:meth:`sample_architectures`, :meth:`end_round`); every layer keeps
  the ops used by the Pareto front of (cost, accuracy) and is refilled from its pool; dropped ops
  never return. Weights are re-initialised between rounds (``inherit_weights`` keeps them).
"""
from __future__ import annotations

import math
from typing import List, Optional

import torch

from common.errors import ConfigError
from search_space.methods.base import SearchMethod, StepOutput
from search_space.methods.densenas import cost_term
from search_space.methods.nse_parts import (balanced_combination, bernoulli_combination, gate_probs, log_prob_rows, pair_gates,
                              refill, two_combinations)
from search_space.super_network import _rows


class NSE(SearchMethod):
    name = "nse"

    def __init__(self, cfg, net, cost_table, forward=None):
        super().__init__(cfg, net, cost_table, forward)
        self.keys = keys = cfg.search_params.nse
        space = net.space
        self.epochs_per_round = cfg.train_params.epochs // keys.rounds
        self.rows = []  # per mixed op (plan row order): kind, block, index, residual
        for k, block in enumerate(net.blocks, start=1):
            for r, mixed in enumerate(block.head):
                self.rows.append({"kind": "head", "block": k, "index": r, "residual": mixed.residual})
        for k, block in enumerate(net.blocks, start=1):
            for layer, mixed in enumerate(block.stack):
                self.rows.append({"kind": "stack", "block": k, "index": layer, "residual": mixed.residual})
        self.n_head = sum(1 for r in self.rows if r["kind"] == "head")
        self.skip = space.stack_ops.index("skip_connect") if "skip_connect" in space.stack_ops else None
        g = net.generator
        self.pool, self.active, self.kept = [], [], []
        for row in self.rows:
            ops = self.ops_of(row)
            pool = [i for i, op in enumerate(ops) if op != "skip_connect"]
            self.pool.append(pool)
            self.active.append(refill([], pool, keys.subset_size, g))
            self.kept.append([])
        self.round = 0
        self.dropped_in_round = [[] for _ in self.rows]
        self.rounds_log: List[dict] = []
        self.reset_alphas()

    # -- config -------------------------------------------------------------------------------
    @classmethod
    def validate(cls, cfg):
        k = cfg.search_params.nse
        key = "config key 'search_params.nse."
        for name in ("rounds", "subset_size", "arch_samples", "enumerate_max"):
            if int(getattr(k, name)) < 1:
                raise ConfigError(f"{key}{name}': must be >= 1, got {getattr(k, name)}")
        if cfg.train_params.epochs % k.rounds:
            raise ConfigError(f"{key}rounds': {k.rounds} does not divide train_params.epochs "
                              f"({cfg.train_params.epochs}); each round has epochs / rounds epochs")
        if cfg.search_params.arch_update_epoch >= cfg.train_params.epochs // k.rounds:
            raise ConfigError(f"config key 'search_params.arch_update_epoch': {cfg.search_params.arch_update_epoch} "
                              f"leaves no arch epoch in a round of {cfg.train_params.epochs // k.rounds} epochs "
                              "(method nse counts it from the start of each round)")
        if cfg.net_type != "mbv2":
            raise ConfigError("config key 'net_type': search_params.method nse needs an MBV2-type space "
                              "(its multi-branch layers average MBConv bodies)")
        from models.operations import mbconv_params
        for name in ("PRIMITIVES_head", "PRIMITIVES_stack"):
            ops = [op for op in getattr(cfg.search_params, name) if op != "skip_connect"]
            if not ops:
                raise ConfigError(f"config key 'search_params.{name}': method nse needs a non-empty op pool")
            bad = [op for op in ops if mbconv_params(op) is None]
            if bad:
                raise ConfigError(f"config key 'search_params.{name}': method nse pools MBConv ops only, "
                                  f"not {', '.join(bad)}")
        if len(k.adam_betas) != 2 or not all(0 <= b < 1 for b in k.adam_betas):
            raise ConfigError(f"{key}adam_betas': two numbers in [0, 1), got {k.adam_betas}")
        if k.eval_images < 1 or k.recal_batches < 0:
            raise ConfigError(f"{key}eval_images' must be >= 1 and 'recal_batches' >= 0")

    def arch_adam_betas(self):
        return tuple(float(b) for b in self.keys.adam_betas)

    # -- rows ---------------------------------------------------------------------------------
    def ops_of(self, row) -> List[str]:
        space = self.net.space
        return list(space.head_ops if row["kind"] == "head" else space.stack_ops)

    @torch.no_grad()
    def reset_alphas(self):
        for p in list(self.net.head_alphas) + list(self.net.stack_alphas):
            p.zero_()

    def _alpha_mats(self):
        return _rows(self.net.head_alphas), _rows(self.net.stack_alphas)

    def _masks(self, combos, device) -> List[Optional[torch.Tensor]]:
        """0/1 matrices (rows x ops) of one combination per row, head and stack apart."""
        head, stack = self._alpha_mats()
        out = []
        for mat, lo, hi in ((head, 0, self.n_head), (stack, self.n_head, len(self.rows))):
            if mat is None:
                out.append(None)
                continue
            m = torch.zeros(mat.shape, device=device)
            for r in range(lo, hi):
                if combos[r]:
                    m[r - lo, list(combos[r])] = 1.0
            out.append(m)
        return out

    def probs(self):
        """Gate probabilities (detached, CPU lists) per row."""
        head, stack = self._alpha_mats()
        out = []
        for mat in (head, stack):
            if mat is not None:
                out.extend(gate_probs(mat.detach().float().cpu()).tolist())
        return out

    def allows_empty(self, r: int) -> bool:
        """Only stack layers (always residual) may have no op: a head must change width or size."""
        return self.rows[r]["kind"] == "stack" and self.rows[r]["residual"]

    # -- steps --------------------------------------------------------------------------------
    def arch_active(self, epoch: int) -> bool:
        return epoch % self.epochs_per_round >= self.arch_start

    def schedule_epochs(self, epochs: int) -> int:
        return self.epochs_per_round

    def weight_step(self, x, y, epoch):
        g = self.net.generator
        plan = [(balanced_combination(self.active[r], self.allows_empty(r), g), None, None)
                for r in range(len(self.rows))]
        self.net.set_combination_plan("weight", plan)
        logits = self.forward(x)
        return StepOutput(self.ce(logits, y), logits)

    def op_choices(self):
        return [list(a) for a in self.active]

    def set_weight_path(self, path):
        self.net.set_combination_plan("weight", [((i,) if i is not None else (), None, None) for i in path])

    def set_weight_all(self):
        """NSE's continuous net: every active op of each layer on (a multi-branch layer)."""
        self.net.set_combination_plan("weight", [(tuple(sorted(a)), None, None) for a in self.active])

    def arch_step(self, x, y, epoch):
        g = self.net.generator
        probs = self.probs()
        sel, unsel = [], []
        for r in range(len(self.rows)):
            s, u = two_combinations(self.active[r], probs[r], self.allows_empty(r), g, self.keys.enumerate_max)
            sel.append(s)
            unsel.append(u)
        head, stack = self._alpha_mats()
        device = head.device
        gates_s, gates_u = [], []
        weights = []
        masks_s, masks_u = self._masks(sel, device), self._masks([u or () for u in unsel], device)
        for kind, (mat, lo, hi) in enumerate( ((head, 0, self.n_head), (stack, self.n_head, len(self.rows)))):
            if mat is None:
                weights.append(None)
                continue
            p = gate_probs(mat.float())
            act = self._active_mask(lo, hi, mat.shape, device)
            ms, mu = masks_s[kind], masks_u[kind]
            has_u = torch.tensor([unsel[r] is not None for r in range(lo, hi)], device=device)
            gs, gu = pair_gates(log_prob_rows(p, act, ms), log_prob_rows(p, act, mu))
            gs = torch.where(has_u, gs, torch.ones_like(gs))
            gu = torch.where(has_u, gu, torch.zeros_like(gu))
            gates_s.extend(gs.unbind(0))
            gates_u.extend(gu.unbind(0))
            w = ms * gs[:, None] + mu * gu[:, None]
            if lo > 0 and self.skip is not None:  # an empty stack combination is priced as skip_connect
                empty_s = torch.tensor([not sel[r] for r in range(lo, hi)], device=device, dtype=w.dtype)
                empty_u = torch.tensor([unsel[r] is not None and not unsel[r] for r in range(lo, hi)],
                                       device=device, dtype=w.dtype)
                w[:, self.skip] = w[:, self.skip] + empty_s * gs + empty_u * gu
            weights.append(w)
        plan = [(sel[r], unsel[r], (gates_s[r], gates_u[r]) if unsel[r] is not None else None)
                for r in range(len(self.rows))]
        self.net.set_combination_plan("arch", plan)
        logits = self.forward(x)
        ce = self.ce(logits, y)
        cost = self.net.weighted_cost(self.cost_table, weights[0], weights[1])
        term = cost_term(self.cfg, cost)
        return StepOutput(ce if term is None else ce + term, logits, ce, cost)

    def _active_mask(self, lo, hi, shape, device):
        m = torch.zeros(shape, device=device)
        for r in range(lo, hi):
            if self.active[r]:
                m[r - lo, self.active[r]] = 1.0
        return m

    @torch.no_grad()
    def after_arch_step(self):
        """Drop ops whose alpha fell below ``drop_alpha`` (not those kept from the previous round;
        never the last op of a non-residual layer)."""
        head, stack = self._alpha_mats()
        mats = [head] * self.n_head + [stack] * (len(self.rows) - self.n_head)
        for r, mat in enumerate(mats):
            alpha = mat[r if r < self.n_head else r - self.n_head].tolist()
            for i in list(self.active[r]):
                if alpha[i] < self.keys.drop_alpha and i not in self.kept[r]:
                    if not self.allows_empty(r) and len(self.active[r]) == 1:
                        continue
                    self.active[r].remove(i)
                    self.pool[r].remove(i)
                    self.dropped_in_round[r].append(i)

    def expected_cost(self) -> torch.Tensor:
        """Chained cost with every active op weighted by its gate (an empty stack layer, prob.
        prod(1 - p), priced as skip_connect)."""
        head, stack = self._alpha_mats()
        device = head.device
        weights = []
        for mat, lo, hi in ((head, 0, self.n_head), (stack, self.n_head, len(self.rows))):
            if mat is None:
                weights.append(None)
                continue
            act = self._active_mask(lo, hi, mat.shape, device)
            p = gate_probs(mat.float()) * act
            if lo > 0 and self.skip is not None:
                empty = torch.where(act.bool(), 1 - p, torch.ones_like(p)).prod(dim=1)
                p = p.clone()
                p[:, self.skip] = empty
            weights.append(p)
        return self.net.weighted_cost(self.cost_table, weights[0], weights[1])

    # -- architectures ------------------------------------------------------------------------
    def most_probable(self):
        """Per row: the active ops whose gate is > 0.5 (non-residual rows: the likeliest op when none is)."""
        probs = self.probs()
        out = []
        for r in range(len(self.rows)):
            combo = tuple(i for i in self.active[r] if probs[r][i] > 0.5)
            if not combo and not self.allows_empty(r) and self.active[r]:
                combo = (max(self.active[r], key=lambda i: probs[r][i]),)
            out.append(combo)
        return out

    def set_eval_plan(self):
        self.net.set_combination_plan("eval", [(c, None, None) for c in self.most_probable()])

    def row_of(self, kind: str, block: int, index: int) -> int:
        for r, row in enumerate(self.rows):
            if row["kind"] == kind and row["block"] == block and row["index"] == index:
                return r
        raise KeyError((kind, block, index))

    def net_config_of(self, path, combos):
        """The net_config of a path and per-row combinations (stack layers compacted: the ops of
        the non-empty layers, in order, as net_configs store them)."""
        from search_space.derive import net_config_from_choices
        space = self.net.space
        head_choice, stack_choice = {}, {}
        for src, dst in zip(path[:-2], path[1:-1]):
            r = self.row_of("head", dst, space.in_routes[dst].index(src))
            head_choice[dst] = "+".join(space.head_ops[i] for i in combos[r])
            layers = [combos[self.row_of("stack", dst, l)] for l in range(space.num_layers[dst])]
            stack_choice[dst] = ["+".join(space.stack_ops[i] for i in c) for c in layers if c]
        return net_config_from_choices(space, path, head_choice, stack_choice)

    def derive(self):
        """Per-epoch derive: the Viterbi path of the routes, the ops with gate > 0.5 on it."""
        from search_space.derive import derive_path
        probs = [p.detach().cpu().tolist() for p in self.net.route_probs()]
        return self.net_config_of(derive_path(self.net.space, probs), self.most_probable())

    def sample_architecture(self, generator):
        """A path from the route probabilities and a combination per layer on it from the gates
        (stack layers compacted); returns (path, {row: combination})."""
        space = self.net.space
        routes = [p.detach().cpu() for p in self.net.route_probs()]
        probs = self.probs()
        path = [0]
        while path[-1] != space.final:
            b = path[-1]
            i = int(torch.multinomial(routes[b].double(), 1, generator=generator))
            path.append(space.out_routes[b][i])
        combos = {}
        for src, dst in zip(path[:-2], path[1:-1]):
            r = self.row_of("head", dst, space.in_routes[dst].index(src))
            combos[r] = bernoulli_combination(self.active[r], probs[r], False, generator)
            layers = []
            for l in range(space.num_layers[dst]):
                r = self.row_of("stack", dst, l)
                layers.append(bernoulli_combination(self.active[r], probs[r], self.allows_empty(r), generator))
            layers = [c for c in layers if c] + [() for c in layers if not c]  # compact
            for l, c in enumerate(layers):
                combos[self.row_of("stack", dst, l)] = c
        return path, combos

    def net_config_of_sample(self, path, combos):
        full = [combos.get(r, ()) for r in range(len(self.rows))]
        return self.net_config_of(path, full)

    # -- rounds -------------------------------------------------------------------------------
    def round_ends(self, epoch: int) -> bool:
        return (epoch + 1) % self.epochs_per_round == 0

    def is_last_round(self) -> bool:
        return self.round + 1 >= int(self.keys.rounds)

    def end_round(self, front_combos: List[dict]) -> dict:
        """Keep per row the ops the front architectures use, drop the rest of the subset from the
        pool, refill to ``subset_size`` (not after the last round), reset the gates. Returns the
        round's record (which ops were searched, kept, dropped, added)."""
        used = [set() for _ in self.rows]
        for combos in front_combos:
            for r, c in combos.items():
                used[r].update(c)
        record = {"round": self.round, "rows": []}
        last = self.is_last_round()
        g = self.net.generator
        for r, row in enumerate(self.rows):
            searched = list(self.active[r])
            kept = sorted(used[r] & set(searched))
            dropped = sorted(set(searched) - set(kept))
            if not last:
                for i in dropped:
                    self.pool[r].remove(i)
                new = refill(kept, self.pool[r], self.keys.subset_size, g)
                if not new and not self.allows_empty(r):  # a head cannot lose every op
                    new = [searched[0]] if searched else []
                    self.pool[r] = sorted(set(self.pool[r]) | set(new))
            else:
                new = searched
            ops = self.ops_of(row)
            record["rows"].append({"kind": row["kind"], "block": row["block"], "index": row["index"],
                                   "searched": [ops[i] for i in searched], "kept": [ops[i] for i in kept],
                                   "dropped_in_round": [ops[i] for i in self.dropped_in_round[r]],
                                   "next": [ops[i] for i in new]})
            self.kept[r] = kept
            self.active[r] = new
            self.dropped_in_round[r] = []
        self.rounds_log.append(record)
        self.round += 1
        if not last:
            self.reset_alphas()
        return record

    def state_dict(self):
        return {"pool": self.pool, "active": self.active, "kept": self.kept, "round": self.round,
                "dropped_in_round": self.dropped_in_round, "rounds_log": self.rounds_log}

    def load_state_dict(self, state):
        self.pool, self.active, self.kept = state["pool"], state["active"], state["kept"]
        self.round, self.dropped_in_round = int(state["round"]), state["dropped_in_round"]
        self.rounds_log = state["rounds_log"]

    def describe(self):
        sizes = [len(a) for a in self.active]
        return (f"nse (round {self.round + 1}/{self.keys.rounds}, {self.epochs_per_round} epochs each, "
                f"subset {min(sizes)}-{max(sizes)} ops)")

    def diagnostics(self) -> dict:
        """Gate entropy (mean binary entropy of the active ops' gates, 1 = all at 1/2), the share of
        gates above 1/2, and the ops per layer in the subsets."""
        probs = self.probs()
        gates = [probs[r][i] for r in range(len(self.rows)) for i in self.active[r]]
        h = [0.0 if p in (0.0, 1.0) else -(p * math.log2(p) + (1 - p) * math.log2(1 - p)) for p in gates]
        return {"gate_entropy": sum(h) / len(h) if h else None,
                "gates_on": sum(p > 0.5 for p in gates) / len(gates) if gates else None,
                "subset_ops_mean": sum(len(a) for a in self.active) / len(self.active)}
