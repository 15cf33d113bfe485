"""Reference logits for the PyTorch parity tests (Tests/AlexNetKitTests/Models/PyTorchParityTests.swift).

Weights and inputs come from a closed formula that the Swift test reproduces, so no weights are
committed: tensor number t (in state-dict order), element k, gets
    a * sin((k mod 10007) * 0.7071 + t * 1.3) + b
computed in float64 and rounded to float32, with (a, b) by kind: conv/linear weight
(1/sqrt(fan_in), 0); bias (0.1, 0); batch-norm weight (0.1, 1); running_var (0.2, 1);
running_mean (0.1, 0). Input element k: 2 * sin((k mod 10007) * 0.37 + 0.5).

Run once, outside the repository's build, with torch and torchvision installed:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch torchvision numpy
    /tmp/venv/bin/python make_parity.py
It writes <model>.logits.f32 (raw little-endian float32, [2, classes]) beside itself.
Made with torch 2.x, torchvision 0.2x, 2 threads, eval mode.
"""
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torchvision

torch.set_num_threads(2)
HERE = pathlib.Path(__file__).parent


def formula(count, t, a, b):
    k = np.arange(count, dtype=np.int64) % 10007
    return (a * np.sin(k.astype(np.float64) * 0.7071 + t * 1.3) + b).astype(np.float32)


def fill(model):
    state = model.state_dict()
    filled = {}
    for t, (name, tensor) in enumerate((n, v) for n, v in state.items() if not n.endswith("num_batches_tracked")):
        shape = tuple(tensor.shape)
        is_norm = any(name.startswith(p) for p in norm_prefixes(model))
        if name.endswith("running_mean"):
            a, b = 0.1, 0.0
        elif name.endswith("running_var"):
            a, b = 0.2, 1.0
        elif name.endswith("weight") and is_norm:
            a, b = 0.1, 1.0
        elif name.endswith("weight"):
            a, b = 1.0 / np.sqrt(np.prod(shape[1:])), 0.0
        else:
            a, b = 0.1, 0.0
        filled[name] = torch.from_numpy(formula(int(np.prod(shape)), t, a, b).reshape(shape))
    model.load_state_dict(filled, strict=False)


def norm_prefixes(model):
    return [n + "." for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]


def paper_alexnet(classes):
    features = nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(
        nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, classes))
    return nn.Sequential(features, nn.Flatten(), classifier)


def tutorial_alexnet_bn(classes):
    def block(i, o, k, **kw):
        return [nn.Conv2d(i, o, k, **kw), nn.ReLU(), nn.BatchNorm2d(o, eps=1e-3)]
    features = nn.Sequential(
        *block(3, 96, 11, stride=4), nn.MaxPool2d(3, 2), *block(96, 256, 5, padding="same"), nn.MaxPool2d(3, 2),
        *block(256, 384, 3, padding="same"), *block(384, 384, 3, padding="same"), *block(384, 256, 3, padding="same"),
        nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, classes))
    return nn.Sequential(features, nn.Flatten(), classifier)


MODELS = {
    "alexnet-tv": (lambda: torchvision.models.alexnet(weights=None, num_classes=1000), 224),
    "alexnet": (lambda: paper_alexnet(1000), 227),
    "alexnet-bn": (lambda: tutorial_alexnet_bn(16), 224),
}

for name, (make, side) in MODELS.items():
    model = make().eval()
    fill(model)
    count = 2 * 3 * side * side
    k = (np.arange(count) % 10007).astype(np.float64)
    x = torch.from_numpy((2 * np.sin(k * 0.37 + 0.5)).astype(np.float32)).reshape(2, 3, side, side)
    with torch.no_grad():
        logits = model(x).numpy().astype("<f4")
    (HERE / f"{name}.logits.f32").write_bytes(logits.tobytes())
    print(name, logits.shape, logits[0, :4])
