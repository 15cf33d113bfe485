# Alternating rounds of one configuration, ours and PyTorch, each child under perf stat
# (software counters: this VM exposes no hardware counters), with the host's steal time from /proc/stat.
# (As run, it read /proc/stat with its own copy of cpu_ticks; compare.py has had that function since.)
#   python3 steadiness.py MODEL BATCH ROUNDS   (after `swift build -c release --product benchmarks`;
#   run with the Python that has torch)
import json, os, subprocess, sys, time
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
model, batch, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, os.path.join(root, "Benchmarks"))
from compare import cpu_ticks  # (all, steal) jiffies from /proc/stat
cmds = {"ours": [os.path.join(root, ".build/release/benchmarks"), "--model-row", model, "--batch", batch],
        "PyTorch": [sys.executable, os.path.join(root, "Benchmarks/compare.py"), "--child", "pytorch", model, batch, "--threads", "2"]}
for r in range(rounds):
    for name, cmd in cmds.items():
        t0, s0 = cpu_ticks(); start = time.time()
        out = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock,context-switches,cpu-migrations,page-faults"] + cmd,
                             capture_output=True, text=True, cwd=root)
        t1, s1 = cpu_ticks()
        row = json.loads(out.stdout.strip().splitlines()[-1])
        stats = {l.split(",")[2]: float(l.split(",")[0]) for l in out.stderr.splitlines() if l.count(",") >= 3 and l.split(",")[0].replace('.', '').isdigit()}
        print(f"{r} {name:8} img/s {row['trainingImagesPerSecond']:6.1f} wall {time.time()-start:5.1f}s steal {100*(s1-s0)/max(1,t1-t0):5.1f}% "
              f"cpu {stats.get('task-clock',0)/1000:6.1f}s cs {stats.get('context-switches',0):8.0f} migr {stats.get('cpu-migrations',0):5.0f} "
              f"faults {stats.get('page-faults',0):8.0f} faults/step {row.get('pageFaultsPerStep','-')}", flush=True)
