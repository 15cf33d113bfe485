"""Checks `alexnet export` with the real clients: onnx's checker, onnxruntime and torch.

Optional, never needed by the build or the tests. Needs onnx, onnxruntime, torch, torchvision,
numpy and pillow in a venv outside the repository, and a release build of `alexnet`:
    swift build -c release --product alexnet
    /work/venv/bin/python Scripts/verify_export.py [--photos ../shared/data/imagenet-samples] \
        [--count 8] [--models small,alexnet-tv,alexnet,alexnet-bn]

For each model it exports an ONNX graph and a PyTorch state dict, then:
  1. runs onnx.checker.check_model (full check, with shape inference) on the graph;
  2. turns `count` photos into lossless S x S PNGs (S = the input size the file records: shorter
     side resized with PIL, centre crop), so that `alexnet predict --resize S --crop S` takes them
     as they are and every client sees the same pixels;
  3. runs onnxruntime on the graph and torch (torchvision's alexnet, the definitions of
     Benchmarks/compare.py, or this script's `small`) with load_state_dict(strict=True) on the state
     dict, normalising as the metadata says;
  4. compares their softmax probabilities with `alexnet predict --json` on the original weights
     and on the exported .onnx: the largest difference must be at most 1e-5 and top-1 the same.
Models: `small` from Pretrained/small-imagenette-112.safetensors (trained), and alexnet-tv,
alexnet and alexnet-bn with torch's random initialisation (batch-norm statistics moved away from
0 and 1), saved as bare weights for `alexnet export --model`. Exit status 1 when anything differs.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-5


def read_safetensors(path):
    """The tensors of a safetensors file as numpy arrays, and its metadata (no package needed)."""
    with open(path, "rb") as f:
        blob = f.read()
    length = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + length])
    metadata = header.pop("__metadata__", {})
    kinds = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        data = np.frombuffer(blob[8 + length + begin:8 + length + end], dtype=kinds[entry["dtype"]])
        tensors[name] = data.reshape(entry["shape"]).copy()
    return tensors, metadata


def write_safetensors(path, tensors):
    """Float32 tensors as a bare safetensors file (what `alexnet export --model` reads)."""
    header, offset, chunks = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def torch_small(classes):
    """The `small` catalogue model (Sources/AlexNetKit/Models/Small.swift) in torch, same names."""
    from collections import OrderedDict
    import torch.nn as nn

    def block(i, o, k, stride=1, groups=1):
        return [nn.Conv2d(i, o, k, stride=stride, padding=k // 2, groups=groups), nn.ReLU(),
                nn.BatchNorm2d(o)]
    features = nn.Sequential(*block(3, 48, 5, stride=2), nn.MaxPool2d(3, 2),
                             *block(48, 96, 3, groups=2), nn.MaxPool2d(3, 2),
                             *block(96, 128, 3), *block(128, 128, 3, groups=2), nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(nn.Linear(128 * 9, 512), nn.ReLU(), nn.Dropout(),
                               nn.Linear(512, 512), nn.ReLU(), nn.Dropout(),
                               nn.Linear(512, classes))
    return nn.Sequential(OrderedDict(features=features, avgpool=nn.AdaptiveAvgPool2d(3),
                                     flatten=nn.Flatten(), classifier=classifier))


def torch_model(name, classes):
    if name == "small":
        return torch_small(classes)
    sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
    import compare
    return compare.torch_model(name, classes)[0]


def random_bare_weights(name, classes, path):
    """torch's random initialisation of `name`, batch-norm statistics moved, as bare weights."""
    import torch
    torch.manual_seed(0)
    model = torch_model(name, classes)
    state = {}
    dense = [key for key in model.state_dict() if key.startswith("classifier.")]
    last = dense[-1].rsplit(".", 1)[0]
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue  # an integer counter; bare weights are floats
        array = value.numpy().astype(np.float32)
        if key.endswith("running_mean"):
            array = np.random.default_rng(1).uniform(-0.1, 0.1, array.shape).astype(np.float32)
        if key.endswith("running_var"):
            array = np.random.default_rng(2).uniform(0.5, 2.0, array.shape).astype(np.float32)
        if key.startswith(last + "."):
            # Random networks give nearly equal logits: spread them so that the comparison means
            # something.
            array *= 300
        state[key] = array
    write_safetensors(path, state)


def square_pngs(photos, side, folder):
    """Shorter side to `side` (PIL bicubic), centre crop, saved losslessly."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    paths = []
    for photo in photos:
        image = Image.open(photo).convert("RGB")
        scale = side / min(image.size)
        size = (max(side, round(image.size[0] * scale)), max(side, round(image.size[1] * scale)))
        image = image.resize(size, Image.BICUBIC)
        left, top = (size[0] - side) // 2, (size[1] - side) // 2
        path = os.path.join(folder, os.path.splitext(os.path.basename(photo))[0] + f"-{side}.png")
        image.crop((left, top, left + side, top + side)).save(path)
        paths.append(path)
    return paths


def normalised(paths, preprocessing):
    from PIL import Image
    mean = np.array(preprocessing["mean"], np.float32).reshape(1, 3, 1, 1)
    std = np.array(preprocessing["std"], np.float32).reshape(1, 3, 1, 1)
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32).transpose(2, 0, 1)
                       for p in paths])
    return (pixels / np.float32(preprocessing["pixel_scale"]) - mean) / std


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}...: {result.stderr.strip()}")
    return result.stdout


def predict(alexnet, weights, extra, side, paths):
    command = [alexnet, "predict", "--weights", weights, "--json", "--top", "1",
               "--resize", str(side), "--crop", str(side)] + extra + paths
    lines = run(command).splitlines()
    return np.array([json.loads(line)["probabilities"] for line in lines], np.float64)


def verify(name, weights, extra, alexnet, photos, work):
    import onnx
    import onnxruntime
    import torch
    onnx_path = os.path.join(work, f"{name}.onnx")
    state_path = os.path.join(work, f"{name}.safetensors")
    for fmt, path in (("onnx", onnx_path), ("safetensors", state_path)):
        run([alexnet, "export", "--weights", weights, "--format", fmt, "--output", path] + extra)
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model, full_check=True)
    metadata = {p.key: p.value for p in model.metadata_props}
    preprocessing = json.loads(metadata["preprocessing"])
    classes = json.loads(metadata["class_names"])
    side = preprocessing["input_size"]
    ops = sorted({node.op_type for node in model.graph.node})
    print(f"{name}: onnx.checker ok; opset {model.opset_import[0].version}; "
          f"{len(model.graph.node)} nodes; {len(classes)} classes; input {side}x{side}")
    print(f"{name}: operators {', '.join(ops)}")

    paths = square_pngs(photos, side, os.path.join(work, f"png-{side}"))
    x = normalised(paths, preprocessing)
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    runtime = softmax(session.run(["logits"], {"images": x})[0].astype(np.float64))
    state, _ = read_safetensors(state_path)
    network = torch_model(name, len(classes))
    network.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    network.eval()
    with torch.no_grad():
        torch_probabilities = softmax(network(torch.from_numpy(x)).double().numpy())
    ours = predict(alexnet, weights, extra, side, paths)
    ours_onnx = predict(alexnet, onnx_path, [], side, paths)
    print(f"{name}: torch load_state_dict(strict=True) ok ({len(state)} entries)")
    failures = 0
    for label, probabilities in (("onnxruntime", runtime), ("torch", torch_probabilities),
                                 ("ours on .onnx", ours_onnx)):
        difference = np.abs(probabilities - ours).max()
        # Log-probabilities are logits less a constant: their difference shows small classes too.
        floor = 1e-30
        log_difference = np.abs(np.log(np.maximum(probabilities, floor))
                                - np.log(np.maximum(ours, floor))).max()
        same_top1 = (probabilities.argmax(axis=1) == ours.argmax(axis=1)).all()
        ok = difference <= TOLERANCE and same_top1
        failures += not ok
        print(f"{name}: {label:<13} max |dp| {difference:.1e}, max |d log p| {log_difference:.1e}, "
              f"top-1 {'same' if same_top1 else 'DIFFERENT'} -> {'ok' if ok else 'FAIL'}")
    best = ours.argmax(axis=1)[:3]
    top = ", ".join(f"{classes[i]} ({ours[k, i]:.3f})" for k, i in enumerate(best))
    print(f"{name}: ours, top-1 of the first 3: {top}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alexnet", default=os.path.join(ROOT, ".build", "release", "alexnet"))
    parser.add_argument("--photos",
                        default=os.path.join(ROOT, "..", "shared", "data", "imagenet-samples"))
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--models", default="small,alexnet-tv,alexnet,alexnet-bn")
    args = parser.parse_args()
    photos = sorted(os.path.join(args.photos, f) for f in os.listdir(args.photos)
                    if f.lower().endswith((".jpeg", ".jpg", ".png")))[:args.count]
    print(f"{len(photos)} photos from {os.path.normpath(args.photos)}")
    print(f"each comparison is with alexnet predict on the original weights; tolerance {TOLERANCE}")
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            if name == "small":
                weights = os.path.join(ROOT, "Pretrained", "small-imagenette-112.safetensors")
                extra = []
            else:
                weights, extra = os.path.join(work, f"{name}-bare.safetensors"), ["--model", name]
                random_bare_weights(name, 10, weights)
            failures += verify(name, weights, extra, args.alexnet, photos, work)
    print("all exports agree" if failures == 0 else f"{failures} comparisons failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
