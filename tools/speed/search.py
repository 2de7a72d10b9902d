"""Speed of search steps on the full MBV2 space at 224: the super network's weight and arch steps
vs the same sampled sub-network run as a plain static network, in three settings (fp32 NCHW,
channels_last, channels_last + autocast).

    python -m tools.speed.search [--device cpu|cuda] [--batch_size 16] [--steps 5] [--amp]
    python -m tools.speed.search --config configs/fashion_mnist_search.yaml --input_size 32 \
        --batch_size 64 --threads 1 --steps 30 --opts search_params.weight_sharing.entangle=true

Prints images/s, the overhead of the search machinery over the static sub-network, and the
speed-up of each setting over plain fp32 NCHW.
"""
from __future__ import annotations

import argparse
import os
import time

from common.cli import main_guard

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class StaticPath:
    """The sub-network of one sampling plan as straight-line code over the same modules
    (no plan lookups, no per-step softmax over alphas): the reference for overhead."""

    def __init__(self, net):
        import torch
        plan, space = net._plan, net.space
        self.net = net
        route_w = [torch.softmax(b.detach(), -1) for b in net.betas]
        self.blocks, h, s = [], 0, 0
        for k, block in enumerate(net.blocks, start=1):
            heads = []
            for r, (src, mixed) in enumerate(zip(block.sources, block.head)):
                heads.append((src, mixed.candidates[plan["head_list"][h][0]],
                              float(route_w[src][net._route_pos[k][r]])))
                h += 1
            stack = []
            for mixed in block.stack:
                stack.append(mixed.candidates[plan["stack_list"][s][0]])
                s += 1
            self.blocks.append((heads, stack))
        self.final = [(src, br, float(route_w[src][net._route_pos[space.final][r]]))
                      for r, (src, br) in enumerate(zip(space.in_routes[space.final], net.final_branches))]

    def __call__(self, x):
        outs = [self.net.input_block(x)]
        for heads, stack in self.blocks:
            acc = sum(w * op(outs[src]) for src, op, w in heads)
            for op in stack:
                acc = op(acc)
            outs.append(acc)
        acc = sum(w * br(outs[src]) for src, br, w in self.final)
        return self.net.classifier(self.net.pool(acc).flatten(1))


def _time(fn, steps: int, warmup: int, sync) -> float:
    for _ in range(warmup):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - t0) / steps


@main_guard
def main(argv=None):
    import torch
    from configs import load_config
    from common.device import autocast, resolve_device
    from search_space import build_super_network, flops_table, space_from_config
    from search_space.chained_cost import cost_loss
    p = argparse.ArgumentParser(prog="python -m tools.speed.search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--batch_size", type=int, default=None, help="default 16 on CPU, 64 on CUDA")
    p.add_argument("--input_size", type=int, default=224, help="input side length")
    p.add_argument("--steps", type=int, default=5, help="timed steps per setting")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--amp", action="store_true", help="only the autocast setting")
    p.add_argument("--config", default=os.path.join(ROOT, "configs", "imagenet_search_cfg_mbv2.yaml"),
                   help="search config of the super network (default: the paper's MBV2 space)")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides, e.g. search_params.weight_sharing.entangle=true")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    bs = a.batch_size or (16 if dev.type == "cpu" else 64)
    cfg = load_config(a.config, [f"data.input_size={a.input_size}"] + list(a.opts))
    torch.manual_seed(0)
    net = build_super_network(cfg).to(dev)
    table = flops_table(space_from_config(cfg), a.input_size)
    y = torch.randint(0, cfg.data.num_classes, (bs,), device=dev)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=1e-4, momentum=0.9)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=1e-4)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    settings = [("fp32 NCHW", False, False), ("channels_last", True, False), ("channels_last+autocast", True, True)]
    if a.amp:
        settings = [settings[0], settings[2]]
    print(f"{os.path.basename(a.config)} {' '.join(a.opts)}: super network, {a.input_size}px, batch {bs}, device {dev}, threads {torch.get_num_threads()}")
    base = {}
    for name, cl, amp in settings:
        fmt = torch.channels_last if cl else torch.contiguous_format
        net.to(memory_format=fmt)
        x = torch.randn(bs, 3, a.input_size, a.input_size, device=dev).contiguous(memory_format=fmt)
        net.train()
        for p_ in net.arch_parameters():
            p_.requires_grad_(False)

        def weight_step():
            net.sample("weight")
            with autocast(dev, amp):
                loss = torch.nn.functional.cross_entropy(net(x).float(), y)
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            w_opt.step()

        net.sample("weight")
        static = StaticPath(net)

        def static_step():
            with autocast(dev, amp):
                loss = torch.nn.functional.cross_entropy(static(x).float(), y)
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            w_opt.step()

        def fixed_weight_step():  # same plan as the static path, through the super network
            with autocast(dev, amp):
                loss = torch.nn.functional.cross_entropy(net(x).float(), y)
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            w_opt.step()

        t_static = _time(static_step, a.steps, a.warmup, sync)
        t_fixed = _time(fixed_weight_step, a.steps, a.warmup, sync)
        t_weight = _time(weight_step, a.steps, a.warmup, sync)
        for p_ in net.arch_parameters():
            p_.requires_grad_(True)
        for p_ in net.weight_parameters():
            p_.requires_grad_(False)

        def arch_step():
            net.sample("arch")
            snap = net.snapshot_alphas()
            with autocast(dev, amp):
                logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y) + cost_loss(
                net.expected_cost(table), 15.0, 0.15)
            a_opt.zero_grad(set_to_none=True)
            loss.backward()
            a_opt.step()
            net.rescale_after_arch_step(snap)

        t_arch = _time(arch_step, a.steps, a.warmup, sync)
        for p_ in net.weight_parameters():
            p_.requires_grad_(True)
        res = {"static": bs / t_static, "weight(fixed plan)": bs / t_fixed, "weight": bs / t_weight,
               "arch": bs / t_arch}
        if not base:
            base = res
        print(f"\n[{name}]")
        for k, v in res.items():
            print(f"  {k:20s} {v:8.2f} images/s   x{v / base[k]:.2f} vs fp32 NCHW")
        print(f"  search machinery overhead (fixed plan vs static): {100 * (t_fixed / t_static - 1):+.1f}%")
        print(f"  sampling + plan each step (weight vs static):      {100 * (t_weight / t_static - 1):+.1f}%")


if __name__ == "__main__":
    main()
