#!/usr/bin/env python3
"""Reads a `alexnet train --tensorboard DIR` log with TensorBoard's own reader and prints every
scalar series, so the event files can be checked without the project's code. Optional: the
project never needs Python; run it from a venv with `pip install tensorboard`:

    /work/venv/bin/python Scripts/verify_tensorboard.py DIR

Exits non-zero when a folder has no scalars or a series' steps are not increasing.
"""
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(root: Path) -> int:
    failures = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f.name for f in folder.glob("events.out.tfevents.*"))
        accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        accumulator.Reload()
        tags = accumulator.Tags()["scalars"]
        print(f"{folder.name}: {len(files)} event file(s), scalars {sorted(tags)}")
        if not tags:
            failures += 1
        for tag in sorted(tags):
            events = accumulator.Scalars(tag)
            steps = [e.step for e in events]
            if steps != sorted(set(steps)):
                print(f"  {tag}: steps not increasing: {steps}")
                failures += 1
            shown = ", ".join(f"{e.step}: {e.value:.4g}" for e in events[:6])
            more = f", ... ({len(events)} in all)" if len(events) > 6 else ""
            print(f"  {tag}: {shown}{more}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        print("usage: verify_tensorboard.py DIR (the --tensorboard directory)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
