"""Typed defaults that YAML configs are merged over (the paper's figures for the MBV2 space).

Every key a config may set appears here; its default's type is the type the key accepts
(an ``int`` is also accepted where a ``float`` is expected, ``None`` accepts anything).
Key names follow the original DenseNAS release so its YAML files load unchanged.
"""
import copy

# Keys of the original release this project accepts but does not act on (so those files load):
# data.patch_dataset, optim.if_resume, optim.resume (use --resume instead).

_DATA = {
    "dataset": "imagenet",
    "batch_size": 352,
    "num_workers": 16,
    "train_data_type": "lmdb",      # lmdb | img
    "val_data_type": "lmdb",
    "input_size": 224,              # side length; "(3,224,224)" as in the original also loads
    "type_of_data_aug": "random_sized",
    "color": False,                 # colour jitter on the training split
    "patch_dataset": False,         # original-release key, unused
    "random_sized": {"min_scale": 0.08},
    "num_classes": 100,             # this project: classifier width (search: 100-class subset)
    "steps_per_epoch": 0,           # this project: cap on steps per epoch (0 = whole split)
    "val_ratio": 0.2,               # this project: share of the search subset used for arch updates
    "skip_corrupt": False,          # this project: skip unreadable images (warning + count) instead of stopping
    "array_cache": "auto",          # this project: auto | on | off -- small images decoded once into a uint8
                                    # array (dataset.array_cache), train augmentation on whole batches
}

_OPTIM_COMMON = {
    "init_dim": 16,
    "head_dim": 16,
    "last_dim": 1984,
    "bn_momentum": 0.1,
    "bn_eps": 0.001,
    "init_mode": "he_fout",
    "weight": {
        "init_lr": 0.2,
        "min_lr": 0.0001,
        "lr_decay_type": "cosine",
        "momentum": 0.9,
        "weight_decay": 0.00004,
    },
}

_LOG = {"interval": 50}  # this project: progress lines / step scalars every N steps (and >= every 60 s)

SEARCH_DEFAULTS = {
    "net_type": "mbv2",
    "log": copy.deepcopy(_LOG),
    "train_params": {"epochs": 150, "use_seed": True, "seed": 2, "topk_archs": 5},
    "search_params": {
        "arch_update_epoch": 50,
        "val_start_epoch": 120,
        "sample_policy": "prob",      # prob | uniform
        "weight_sample_num": 1,
        "arch_sample_num": 2,         # this project: ops kept per mixed op in an arch step
        "method": "densenas",         # this project: search method (search_space/methods): densenas | tfnas | nse
        "tfnas": {"tau_start": 5.0, "tau_decay": 0.96, "latency_weight": 0.1},  # method tfnas only
        # method nse only (search_space/methods/nse.py): train_params.epochs split into `rounds`
        "nse": {"rounds": 3, "subset_size": 5, "arch_samples": 2000, "drop_alpha": -2.0,
                "inherit_weights": False, "adam_betas": [0.0, 0.999], "enumerate_max": 5,
                "recal_batches": 5, "eval_images": 1000},
        # this project: which paths a weight step trains (search_space/weight_sharing.py); uniform = each
        # method's own sampling (the paper's for densenas)
        "weight_sharing": {"strategy": "uniform", "warmup_steps": 0, "hold_steps": 25, "sandwich_random": 2,
                           "distill": True, "route_hold_steps": 1,
                           # opt-in: MBConv candidates of a layer as slices of one superkernel
                           # (search_space/entangled.py); false = the paper's independent op weights
                           "entangle": False,
                           # entangled only: he_fout (std sqrt(2/(k*k))) of the depthwise superkernel, or
                           # fan_hidden (sqrt(2/(k*k*hidden)): issue 44's prototype, an opt-in to measure)
                           "depthwise_init": "he_fout"},
        # this project: the inherited_weights.pt a search writes each epoch has its BN statistics
        # recalibrated on the derived net with this many batches of search_train (0: the super network's)
        "inherited_bn_recal_batches": 10,
        "softmax_temp": 1.0,
        "PRIMITIVES_stack": ["mbconv_k3_t3", "mbconv_k3_t6", "mbconv_k5_t3", "mbconv_k5_t6",
                             "mbconv_k7_t3", "mbconv_k7_t6", "skip_connect"],
        "PRIMITIVES_head": ["mbconv_k3_t3", "mbconv_k3_t6", "mbconv_k5_t3", "mbconv_k5_t6",
                            "mbconv_k7_t3", "mbconv_k7_t6"],
        "adjoin_connect_nums": [4, 4, 4, 4, 4, 4, 4],
        "net_scale": {
            "chs": [16, 24, 32, 40, 48, 56, 64, 72, 96, 112, 128, 160, 176, 192, 320, 352, 384],
            "fm_sizes": [112, 56, 28, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7, 7, 7, 7, 7],
            "stage": [0, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7],
            "num_layers": [0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0],
        },
    },
    "optim": dict(copy.deepcopy(_OPTIM_COMMON), **{
        "arch": {"alpha_lr": 0.0003, "beta_lr": 0.0003, "weight_decay": 0.001, "betas": [0.5, 0.999]},
        "if_sub_obj": True,
        "sub_obj": {
            "type": "latency",        # latency | flops
            "cost_mode": "sampled",   # sampled: cost of the arch step's sampled network (original);
                                      # expected: every op weighted by softmax(alpha) (opt-in)
            "skip_reg": False,        # skip_connect cost = first op's cost / 10
            "log_base": 15.0,
            "sub_loss_factor": 0.15,
            "latency_list_path": "",
            # this project: search for a cost target (in the table's units) instead of the log term
            "target": 0.0,            # 0 = no target
            "target_mode": "none",    # none (the paper's log term) | abs | hinge
            "target_weight": 1.0,     # weight of the target term
            "target_derive": "window",  # window: best net with cost in [target*(1-tolerance), target];
                                        # budget: best net within the target; argmax: the paper's derive
            "target_tolerance": 0.05,   # width of the window below the target (fraction of the target)
        },
        "if_resume": False,
        "resume": {"load_path": "", "load_epoch": 0},
    }),
    "data": copy.deepcopy(_DATA),
}

TRAIN_DEFAULTS = {
    "net_type": "mbv2",
    "log": copy.deepcopy(_LOG),
    "train_params": {"epochs": 240, "use_seed": True, "seed": 2, "warmup_epochs": 0,
                     "grad_clip": 0.0, "label_smoothing": 0.1, "dropout": 0.0,
                     "val_every": 1},  # this project: val every N epochs and after the last; 0 = last only
    "optim": dict(copy.deepcopy(_OPTIM_COMMON), **{
        "weight": {"init_lr": 0.5, "min_lr": 0.00001, "lr_decay_type": "cosine",
                   "momentum": 0.9, "weight_decay": 0.00004, "nesterov": False},
        "if_resume": False,
        "resume": {"load_path": "", "load_epoch": 0},
    }),
    "data": dict(copy.deepcopy(_DATA), batch_size=1024, num_classes=1000),
}
