"""Writes pytorch.safetensors, read by Tests/AlexNetKitTests/Serialization/SafetensorsTests.swift.

Run once with torch and safetensors installed, outside the repository's build:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch safetensors
    /tmp/venv/bin/python make_fixture.py
Made with torch 2.15 and safetensors 0.x (the Hugging Face library).
"""
import pathlib

import torch
from safetensors.torch import save_file

tensors = {
    "features.0.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2) / 4 - 1,  # -1, -0.75, ... 4.75
    "features.0.bias": torch.tensor([0.5, -1.5], dtype=torch.float32),
    "half": torch.tensor([[1.0, -2.0, 0.5], [65504.0, 6.1035156e-05, -0.0]], dtype=torch.float16),
    "brain": torch.tensor([1.0, -3.140625, 1e30], dtype=torch.bfloat16),
}
save_file(tensors, str(pathlib.Path(__file__).parent / "pytorch.safetensors"), metadata={"format": "pt", "note": "fixture"})
