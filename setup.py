from setuptools import find_packages, setup

setup(
    name="densenas",
    version="0.1.0",
    description="DenseNAS: densely connected search space for neural architecture search (CVPR 2020), rebuilt",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["configs", "dataset", "engine", "models", "search_space", "run_apis", "tools"]),
    package_data={"configs": ["*.yaml"]},
    install_requires=["torch>=2.4", "torchvision", "lmdb", "pillow", "numpy", "pyyaml", "tensorboard",
                      "tqdm", "matplotlib"],
    extras_require={"test": ["pytest", "hypothesis"], "onnx": ["onnx", "onnxruntime"]},
)
