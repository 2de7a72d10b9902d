"""Plain (derived) DenseNAS networks built from a net_config: the MBV2 and ResNet families."""
from __future__ import annotations

from torch import nn

from models.net_config import NetConfig, load_net_config
from models.operations import OPS, Conv1x1, build_op, conv_bn, he_fout_init, op_expansion, set_bn


def _stage(block, in_ch: int, affine: bool = True):
    """Head op (carries the stride) then stack ops; returns (module, real output channels)."""
    layers = [build_op(block.head_op, in_ch, block.out_ch, block.stride, affine=affine)]
    ch = layers[0].out_channels
    for op in block.stack_ops:
        # Stack layers keep the width; for bottlenecks the op's planes are a quarter of it.
        layers.append(build_op(op, ch, ch // op_expansion(op), 1, affine=affine) if op != "skip_connect"
                      else OPS[op](ch, ch, 1, affine=affine))
    return nn.Sequential(*layers), ch


class DerivedNetwork(nn.Module):
    """stem -> blocks -> [conv1x1 to last_dim] -> global pool -> linear. BatchNorm: ``bn_momentum``
    / ``bn_eps`` for MBV2-space nets; ResNet-space nets always use PyTorch's defaults (0.1 / 1e-5),
    as the original release builds them."""

    def __init__(self, net_config: NetConfig, num_classes: int = 1000, dropout: float = 0.0,
                 bn_momentum: float = 0.1, bn_eps: float = 1e-3):
        super().__init__()
        self.net_config = net_config
        first = net_config.blocks[0].in_ch
        relu6 = net_config.net_type == "mbv2"
        self.stem = conv_bn(3, first, 3, 2) if relu6 else nn.Sequential(
            nn.Conv2d(3, first, 3, 2, 1, bias=False), nn.BatchNorm2d(first), nn.ReLU(inplace=True))
        blocks, ch = [], first
        for b in net_config.blocks:
            stage, ch = _stage(b, ch)
            blocks.append(stage)
        self.blocks = nn.Sequential(*blocks)
        if net_config.last is not None:
            self.last_conv = Conv1x1(ch, net_config.last[1])
            ch = net_config.last[1]
        else:
            self.last_conv = nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(ch, num_classes)
        self.num_features = ch
        he_fout_init(self)
        if net_config.net_type != "mbv2":
            # As the original: its derived RES_Net never sets BN eps/momentum (PyTorch's defaults);
            # only MBV2_Net applies the config's values (eps 1e-3).
            bn_momentum, bn_eps = 0.1, 1e-5
        set_bn(self, bn_momentum, bn_eps)

    def features(self, x):
        return self.last_conv(self.blocks(self.stem(x)))

    def forward_features(self, x):
        """Feature map before pooling (timm's name)."""
        return self.features(x)

    def forward_head(self, x, pre_logits: bool = False):
        x = self.pool(x).flatten(1)
        return x if pre_logits else self.classifier(self.dropout(x))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier for ``num_classes`` (0: none, the model returns pooled features)."""
        self.classifier = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if num_classes > 0:
            nn.init.normal_(self.classifier.weight, 0.0, 0.01)
            nn.init.zeros_(self.classifier.bias)


def build_model(net_config, num_classes: int = 1000, **kwargs) -> DerivedNetwork:
    """Build the plain network a net_config (object, text, path or zoo name) describes."""
    return DerivedNetwork(load_net_config(net_config), num_classes=num_classes, **kwargs)
