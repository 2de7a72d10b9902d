from setuptools import find_packages, setup

# Layering, bottom to top (imports point down only): common -> configs -> dataset / models ->
# search_space -> latency -> engine -> run_apis / tools.
TOP_PACKAGES = ["common", "configs", "dataset", "models", "search_space", "latency", "engine", "run_apis", "tools",
                "latency_tables"]

COMMANDS = {
    "densenas-search": "run_apis.search:main",
    "densenas-retrain": "run_apis.retrain:main",
    "densenas-validate": "run_apis.validation:main",
    "densenas-profile": "run_apis.profile:main",
    "densenas-derive": "run_apis.derive:main",
    "densenas-latency": "run_apis.latency_measure:main",
    "densenas-export": "run_apis.export:main",
    "densenas-convert-weights": "tools.convert_weights:main",
}

setup(
    name="densenas",
    version="0.2.0",
    description="DenseNAS: densely connected search space for neural architecture search (CVPR 2020), rebuilt",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[f"{top}{sub}" for top in TOP_PACKAGES for sub in ("", ".*")]),
    py_modules=["hubconf"],
    # Configs, latency tables and the zoo's own weights are package data: found next to the installed modules.
    package_data={"configs": ["*.yaml"], "latency_tables": ["*.json"], "models": ["zoo_weights/*.pt"]},
    entry_points={"console_scripts": [f"{name}={target}" for name, target in COMMANDS.items()]},
    install_requires=["torch>=2.4", "torchvision", "lmdb", "pillow", "numpy", "pyyaml", "tensorboard",
                      "tqdm", "matplotlib"],
    extras_require={"test": ["pytest", "pytest-xdist", "hypothesis"], "onnx": ["onnx", "onnxruntime"],
                    "cluster": ["ray"]},
)
