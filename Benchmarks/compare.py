"""Side by side: this project's whole-model benchmark and PyTorch's, same models, batches and threads.

Optional, never needed by the tests. Needs torch and torchvision (and tensorflow for the Keras
column, skipped when absent), installed outside the repository, e.g.
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch torchvision
    /tmp/venv/bin/python Benchmarks/compare.py [--quick] [--threads 2]
It builds and runs `swift run -c release benchmarks --only models --json`, then measures each
PyTorch configuration in its own process (so peak memory is per configuration) and prints both
columns with their ratio.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CONFIGS_FULL = [("alexnet", 32), ("alexnet", 128), ("alexnet-tv", 32), ("alexnet-tv", 128), ("alexnet-bn", 2),
                ("alexnet-bn", 32), ("alexnet-bn", 128), ("alexnet", 1), ("alexnet-tv", 1), ("alexnet-bn", 1)]
CONFIGS_QUICK = [("alexnet", 32), ("alexnet-tv", 32), ("alexnet-bn", 32), ("alexnet-bn", 2)]


def torch_model(name):
    import torch.nn as nn
    import torchvision
    if name == "alexnet-tv":
        return torchvision.models.alexnet(weights=None, num_classes=1000), 224, 1000
    if name == "alexnet":
        lrn = lambda: nn.LocalResponseNorm(5, 1e-4, 0.75, 2)
        features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))
        classifier = nn.Sequential(nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
                                   nn.Dropout(), nn.Linear(4096, 1000))
        return nn.Sequential(features, nn.Flatten(), classifier), 227, 1000
    def block(i, o, k, **kw):
        return [nn.Conv2d(i, o, k, **kw), nn.ReLU(), nn.BatchNorm2d(o, eps=1e-3, momentum=0.01)]
    features = nn.Sequential(*block(3, 96, 11, stride=4), nn.MaxPool2d(3, 2), *block(96, 256, 5, padding="same"),
                             nn.MaxPool2d(3, 2), *block(256, 384, 3, padding="same"), *block(384, 384, 3, padding="same"),
                             *block(384, 256, 3, padding="same"), nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
                               nn.Dropout(), nn.Linear(4096, 16))
    return nn.Sequential(features, nn.Flatten(), classifier), 224, 16


def measure_torch(name, batch, repetitions, threads):
    """Runs in a child process: one configuration, printed as JSON."""
    import resource
    import torch
    torch.set_num_threads(threads)
    model, side, classes = torch_model(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 3, side, side) * 2 - 1
    y = torch.arange(batch) % classes

    def step():
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    def median(fn):
        fn()
        times = []
        for _ in range(repetitions):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2] * 1000

    model.train()
    step_ms = median(step)
    model.eval()
    with torch.no_grad():
        inference_ms = median(lambda: model(x))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"model": name, "batch": batch, "trainingImagesPerSecond": batch / step_ms * 1000,
                      "inferenceMilliseconds": inference_ms, "inferenceImagesPerSecond": batch / inference_ms * 1000,
                      "peakResidentMegabytes": peak}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    repetitions = 2 if args.quick else 3
    if args.child:
        measure_torch(args.child[0], int(args.child[1]), repetitions, args.threads)
        return
    configs = CONFIGS_QUICK if args.quick else CONFIGS_FULL
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    report = os.path.join(tempfile.mkdtemp(), "swift.json")
    command = ["swift", "run", "-c", "release", "benchmarks", "--only", "models", "--json", report] + (["--quick"] if args.quick else [])
    subprocess.run(command, cwd=root, check=True, stdout=subprocess.DEVNULL)
    ours = {(r["model"], r["batch"]): r for r in json.load(open(report))["models"]}
    rows = []
    for name, batch in configs:
        out = subprocess.run([sys.executable, __file__, "--child", name, str(batch), "--threads", str(args.threads)]
                             + (["--quick"] if args.quick else []), capture_output=True, text=True, check=True)
        theirs = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((name, batch, ours.get((name, batch)), theirs))
    header = f"{'model':<11} {'batch':>5}  {'metric':<17} {'ours':>9} {'PyTorch':>9} {'ours/PyTorch':>12}"
    print(header)
    print("-" * len(header))
    for name, batch, mine, theirs in rows:
        if mine is None:
            continue
        for metric, key, better in [("train img/s", "trainingImagesPerSecond", "higher"),
                                    ("inference ms", "inferenceMilliseconds", "lower"),
                                    ("inference img/s", "inferenceImagesPerSecond", "higher"),
                                    ("peak RSS MB", "peakResidentMegabytes", "lower")]:
            a, b = mine[key], theirs[key]
            print(f"{name:<11} {batch:>5}  {metric:<17} {a:>9.1f} {b:>9.1f} {a / b:>11.2f}x")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        print("\nKeras column skipped: tensorflow is not installed.")


if __name__ == "__main__":
    main()
