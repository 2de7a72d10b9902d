"""Zoo nets trained by this project on Fashion-MNIST, as plain data (no imports), like
``models.paper``: the 1.5 ms window of the 4-op space priced by
``latency_tables/fashion_mnist_cpu_b1_32.json`` (issue 54 §5). Their weights are package files
(``models/zoo_weights/``, ~1.2 MB each), fetched through the same hash-checked path as any URL.

Every figure below is a retrain's record in ``tools/results/ceiling/`` (a test compares them):
trained with ``configs/fashion_mnist_quality_train_long.yaml`` (16 epochs, recipe ``fad4c86b5c23``)
on the 50k ``train`` list, test top-1 on the 10k test split with the final weights.
"""

CEILING_LONG = "tools/results/ceiling/fashion_mnist_search_1.5ms_fashion_mnist_quality_train_long.json"

# name -> the entry: net_config text, weights file + sha256, published figures, provenance.
FASHION_MNIST_NETS = {
    "fmnist_1p5ms_uniform_k5_t6": {
        "net_config": ("[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n"
                       "[[16, 40], 'mbconv_k5_t6', ['mbconv_k5_t6', 'mbconv_k5_t6'], 2, 2]|\n"
                       "[[40, 80], 'mbconv_k5_t6', ['mbconv_k5_t6', 'mbconv_k5_t6'], 2, 2]|\n"
                       "[[80, 256], 'conv1_1']\nnet_type: mbv2\n"),
        "weights_file": "fmnist_1p5ms_uniform_k5_t6-a9b791bf.pt",
        "sha256": "a9b791bfaf7dd25b9d96f303313d8eed41b78bb657827d47be2bcc182a461a61",
        # latency_ms: the table's estimate (the window's currency), 1 CPU thread, batch 1, 32 px
        "published": {"top1": 90.26, "val_top1": 90.26, "macs_m": 8.42, "params_m": 0.303, "latency_ms": 1.408},
        "summary": "the 1.5 ms window's best hand-designed net (uniform mbconv_k5_t6), chosen by val",
        "results": CEILING_LONG, "net_id": "hand_designed_12", "retrain_seed": 0,
    },
    "fmnist_1p5ms_searched_ada1630a": {
        "net_config": ("[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n"
                       "[[16, 40], 'mbconv_k3_t3', ['mbconv_k3_t3', 'mbconv_k3_t3'], 2, 2]|\n"
                       "[[40, 80], 'mbconv_k3_t6', ['mbconv_k5_t6', 'mbconv_k5_t6'], 2, 2]|\n"
                       "[[80, 96], 'mbconv_k3_t3', [], 0, 1]|\n"
                       "[[96, 256], 'conv1_1']\nnet_type: mbv2\n"),
        "weights_file": "fmnist_1p5ms_searched_ada1630a-5cfa2af7.pt",
        "sha256": "5cfa2af738490dafe74435b416c5f7f9a47fff167a5c4a709fc22601f2714fe9",
        "published": {"top1": 89.76, "val_top1": 90.01, "macs_m": 6.83, "params_m": 0.314, "latency_ms": 1.5},
        # chosen by the mean val of its two long-recipe seeds (90.07, the window's best; the hand-designed
        # net 90.00); the weights are seed 0's, as for the hand-designed entry
        "summary": "the 1.5 ms window's best net by val at the long recipe (a densenas + sandwich search's net)",
        "results": CEILING_LONG, "net_id": "top_2", "retrain_seed": 0,
    },
}

# what every entry here shares
FASHION_MNIST_META = {
    "dataset": "fashion_mnist", "num_classes": 10, "input_size": 32,
    "categories": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"],
    "config": "fashion_mnist_quality_train_long.yaml", "recipe_hash": "fad4c86b5c23",
    "latency_table": "fashion_mnist_cpu_b1_32.json", "source": "trained by this project (issue 54 §5)",
}
