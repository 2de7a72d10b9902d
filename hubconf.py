"""torch.hub entry points: ``torch.hub.load(repo_dir, "densenas_a", source="local")``."""
dependencies = ["torch", "torchvision", "yaml"]

from models.zoo import (densenas_a, densenas_b, densenas_c, fmnist_1p5ms_searched_ada1630a,  # noqa: E402,F401
                        fmnist_1p5ms_uniform_k5_t6)
