"""Side by side: this project's whole-model benchmark, PyTorch's and (for alexnet-bn, the tutorial's
model) Keras's: same models, batches and thread counts, printed as columns with their ratios.

Optional, never needed by the tests. Needs torch and torchvision (and tensorflow with keras for the
Keras column, skipped when absent), installed outside the repository, e.g.
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch torchvision tensorflow-cpu
    /tmp/venv/bin/python Benchmarks/compare.py [--quick] [--threads 2] [--rounds 5] [--only alexnet-tv:128]
                                               [--baseline main]
Every measurement runs in its own process (so peak memory is per configuration): ours through
`benchmarks --model-row`, theirs through this script's --child mode. Contenders alternate within
each round, so a shared machine's slow spells hit all columns alike. Within a measurement the
training step and the inference pass are each timed at least three times after a warm-up, and as
many more times as fill a second (a batch-1 pass: about 70 runs), by both frameworks alike (a
baseline older than 2026-12-04's change to this takes three runs). Each figure is given as the
median, worst and best of the rounds (at least five by default), and ours / theirs at the median
and at the worst rounds. `--baseline REF` builds git commit REF in a temporary worktree and runs it
as one more column, "ours (REF)", in the same rounds: before and after, and PyTorch, from one run.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

CONFIGS_FULL = [("alexnet", 32), ("alexnet", 128), ("alexnet-tv", 32), ("alexnet-tv", 128), ("alexnet-bn", 2),
                ("alexnet-bn", 32), ("alexnet-bn", 128), ("alexnet", 1), ("alexnet-tv", 1), ("alexnet-bn", 1)]
CONFIGS_QUICK = [("alexnet", 32), ("alexnet-tv", 32), ("alexnet-bn", 32), ("alexnet-bn", 2)]


def torch_model(name, classes=None):
    """The model, its input side and class count. Children are named features, flatten and classifier
    as ours are, so a state dict from `alexnet export --format safetensors` loads with strict=True."""
    from collections import OrderedDict
    import torch.nn as nn
    import torchvision
    if name == "alexnet-tv":
        return torchvision.models.alexnet(weights=None, num_classes=classes or 1000), 224, classes or 1000
    if name == "alexnet":
        lrn = lambda: nn.LocalResponseNorm(5, 1e-4, 0.75, 2)
        features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))
        classifier = nn.Sequential(nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
                                   nn.Dropout(), nn.Linear(4096, classes or 1000))
        named = OrderedDict(features=features, flatten=nn.Flatten(), classifier=classifier)
        return nn.Sequential(named), 227, classes or 1000
    def block(i, o, k, **kw):
        return [nn.Conv2d(i, o, k, **kw), nn.ReLU(), nn.BatchNorm2d(o, eps=1e-3, momentum=0.01)]
    features = nn.Sequential(*block(3, 96, 11, stride=4), nn.MaxPool2d(3, 2), *block(96, 256, 5, padding="same"),
                             nn.MaxPool2d(3, 2), *block(256, 384, 3, padding="same"), *block(384, 384, 3, padding="same"),
                             *block(384, 256, 3, padding="same"), nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
                               nn.Dropout(), nn.Linear(4096, classes or 16))
    named = OrderedDict(features=features, flatten=nn.Flatten(), classifier=classifier)
    return nn.Sequential(named), 224, classes or 16


def median(fn, repetitions, minimum_seconds):
    """After a warm-up run, the median of at least `repetitions` runs and of as many more as fill
    `minimum_seconds` (at most 10,000), as `benchmarks --model-row` times ours."""
    fn()
    times = []
    while len(times) < repetitions or (sum(times) < minimum_seconds and len(times) < 10000):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000


def peak_megabytes():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_torch(name, batch, repetitions, minimum_seconds, threads):
    """Runs in a child process: one configuration, printed as JSON."""
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

    model.train()
    step_ms = median(step, repetitions, minimum_seconds)
    model.eval()
    with torch.no_grad():
        inference_ms = median(lambda: model(x), repetitions, minimum_seconds)
    return step_ms, inference_ms


def measure_keras(name, batch, repetitions, minimum_seconds, threads):
    """The tutorial's Keras model (alexnet-bn), SGD with momentum 0.9 and weight decay 0.0005."""
    assert name == "alexnet-bn"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tensorflow import keras
    L = keras.layers
    def conv(filters, size, **kw):
        return [L.Conv2D(filters, size, activation="relu", **kw), L.BatchNormalization()]
    model = keras.Sequential([keras.Input((224, 224, 3)), *conv(96, 11, strides=4), L.MaxPooling2D(3, 2),
                              *conv(256, 5, padding="same"), L.MaxPooling2D(3, 2), *conv(384, 3, padding="same"),
                              *conv(384, 3, padding="same"), *conv(256, 3, padding="same"), L.MaxPooling2D(3, 2),
                              L.Flatten(), L.Dense(4096, activation="relu"), L.Dropout(0.5),
                              L.Dense(4096, activation="relu"), L.Dropout(0.5), L.Dense(16, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, weight_decay=0.0005),
                  loss="categorical_crossentropy")
    x = np.random.uniform(-1, 1, (batch, 224, 224, 3)).astype("float32")
    y = np.eye(16, dtype="float32")[np.arange(batch) % 16]
    step_ms = median(lambda: model.train_on_batch(x, y), repetitions, minimum_seconds)
    tensor = tf.constant(x)
    inference_ms = median(lambda: model(tensor, training=False), repetitions, minimum_seconds)
    return step_ms, inference_ms


def child(framework, name, batch, repetitions, minimum_seconds, threads):
    measure = measure_torch if framework == "pytorch" else measure_keras
    step_ms, inference_ms = measure(name, batch, repetitions, minimum_seconds, threads)
    print(json.dumps({"model": name, "batch": batch, "trainingImagesPerSecond": batch / step_ms * 1000,
                      "inferenceMilliseconds": inference_ms, "inferenceImagesPerSecond": batch / inference_ms * 1000,
                      "peakResidentMegabytes": peak_megabytes()}))


def cpu_ticks():
    """(all, steal) jiffies of the machine since boot from /proc/stat; (0, 0) where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
        return sum(fields), fields[7] if len(fields) > 7 else 0
    except (OSError, ValueError):
        return 0, 0


def run_json(command, cwd=None):
    """The child's last JSON line, with the CPU seconds it used and the host's steal time (the share
    of the machine's time a hypervisor gave to others) while it ran: much steal means fewer cores;
    much CPU time and little steal points at slower cores, or at BLAS threads spinning."""
    import resource
    before, (all_before, steal_before) = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_ticks()
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr[-2000:]}")
    after, (all_after, steal_after) = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_ticks()
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["cpuSeconds"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    row["stealPercent"] = 100 * (steal_after - steal_before) / max(1, all_after - all_before)
    return row


METRICS = [("train img/s", "trainingImagesPerSecond"), ("inference ms", "inferenceMilliseconds"),
           ("inference img/s", "inferenceImagesPerSecond"), ("peak RSS MB", "peakResidentMegabytes"),
           ("CPU s (process)", "cpuSeconds"), ("host steal %", "stealPercent")]
# Context for the spread, not a contest: no ratio is printed for these.
CONTEXT = {"cpuSeconds", "stealPercent"}
# For these a larger figure is better; the "worst round" of a contender is its minimum, else its maximum.
HIGHER_IS_BETTER = {"trainingImagesPerSecond", "inferenceImagesPerSecond"}


def spread(rows, key):
    """(worst, median, best) of one metric over the rounds."""
    values = sorted(r[key] for r in rows)
    low, mid, high = values[0], values[len(values) // 2], values[-1]
    return (low, mid, high) if key in HIGHER_IS_BETTER else (high, mid, low)


def build_benchmarks(root):
    subprocess.run(["swift", "build", "-c", "release", "--product", "benchmarks"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(root, ".build", "release", "benchmarks")


def baseline_worktree(root, ref):
    """Checks out commit `ref` in a temporary worktree of this repository; returns its path."""
    path = tempfile.mkdtemp(prefix="compare-baseline-")
    os.rmdir(path)
    out = subprocess.run(["git", "-C", root, "worktree", "add", "--detach", path, ref], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"--baseline {ref}: git could not check it out: {out.stderr.strip()}")
    return path


def contenders(args, root, binary, baseline_binary, have_keras, name):
    """(column, command) in the order they run within a round."""
    quick = ["--quick"] if args.quick else []
    ours = lambda b: [b, "--model-row", name, "--batch"]
    them = lambda framework: [sys.executable, __file__, "--child", framework, name]
    columns = [("ours", ours(binary))]
    if baseline_binary:
        columns.append((f"ours ({args.baseline})", ours(baseline_binary)))
    columns.append(("PyTorch", them("pytorch")))
    if have_keras and name == "alexnet-bn":
        columns.append(("Keras", them("keras")))
    return [(c, command, quick) for c, command in columns]


def print_config(name, batch, samples):
    """One line per metric and contender: median, worst and best round, and ours / theirs at the
    median and at the worst rounds (where a target must still hold)."""
    ours = samples["ours"]
    for metric, key in METRICS:
        for column, rows in samples.items():
            worst, mid, best = spread(rows, key)
            line = f"{name:<11} {batch:>5}  {metric:<16} {column:<18} {mid:>8.1f} {worst:>8.1f} {best:>8.1f}"
            if column != "ours" and key not in CONTEXT:
                ours_worst, ours_mid, _ = spread(ours, key)
                line += f" {ours_mid / mid:>7.2f}x {ours_worst / worst:>7.2f}x"
            print(line, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5,
                        help="times each configuration is measured, contenders alternating (default 5)")
    parser.add_argument("--only", help="comma-separated model:batch pairs, e.g. alexnet-tv:128,alexnet:1")
    parser.add_argument("--baseline", metavar="REF",
                        help="also build git commit REF (release, in a temporary worktree) and run it as "
                             "another column in the same rounds")
    parser.add_argument("--child", nargs=3, metavar=("FRAMEWORK", "MODEL", "BATCH"))
    args = parser.parse_args()
    # As `benchmarks --model-row`: at least three runs, and a second's worth.
    repetitions, minimum_seconds = (2, 0.3) if args.quick else (3, 1.0)
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), repetitions, minimum_seconds, args.threads)
        return
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be at least 1, got {args.rounds}")
    configs = CONFIGS_QUICK if args.quick else CONFIGS_FULL
    if args.only:
        try:
            configs = [(pair.split(":")[0], int(pair.split(":")[1])) for pair in args.only.split(",")]
        except (IndexError, ValueError):
            raise SystemExit(f"--only: expected model:batch pairs such as alexnet-tv:128,alexnet:1, got {args.only}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = build_benchmarks(root)
    baseline_path, baseline_binary = None, None
    try:
        if args.baseline:
            baseline_path = baseline_worktree(root, args.baseline)
            baseline_binary = build_benchmarks(baseline_path)
        # find_spec, not import: importing tensorflow takes seconds and logs to stderr.
        have_keras = importlib.util.find_spec("tensorflow") is not None
        run_rounds(args, root, configs, binary, baseline_binary, have_keras)
    finally:
        if baseline_path:
            subprocess.run(["git", "-C", root, "worktree", "remove", "--force", baseline_path],
                           capture_output=True)


def run_rounds(args, root, configs, binary, baseline_binary, have_keras):
    print(f"threads {args.threads}; {args.rounds} rounds, contenders alternating within each round")
    header = (f"{'model':<11} {'batch':>5}  {'metric':<16} {'column':<18} {'median':>8} {'worst':>8} {'best':>8}"
              f" {'ratio':>8} {'worst':>8}")
    print(header)
    print("-" * len(header), flush=True)
    for name, batch in configs:
        columns = contenders(args, root, binary, baseline_binary, have_keras, name)
        samples = {column: [] for column, _, _ in columns}
        for _ in range(args.rounds):
            for column, command, quick in columns:
                extra = [str(batch)] + quick + ([] if column.startswith("ours") else ["--threads", str(args.threads)])
                samples[column].append(run_json(command + extra, cwd=root))
        print_config(name, batch, samples)
    print("median, worst, best: over the rounds (worst: lowest img/s, highest ms and MB);")
    print("ratio: ours / that column at the medians, then at the worst rounds of each")
    print("(higher is better for img/s, lower for ms and MB); CPU s: the whole child process, setup")
    print("included; host steal %: the machine's time a hypervisor gave to others while it ran")
    if not have_keras:
        print("Keras column skipped: tensorflow is not installed.")


if __name__ == "__main__":
    main()
