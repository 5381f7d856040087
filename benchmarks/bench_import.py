"""How long importing regionkit takes: the bare façade, the names a plugin imports, the CLI's --help.

Each measurement is a fresh interpreter (``python -X importtime`` is not needed: wall time of
``python -c ...`` minus an empty interpreter's, the median of ``--repeats`` runs, all measured
side by side in one run).  Also prints which heavy packages each import pulls in.

    python benchmarks/bench_import.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "empty interpreter": "pass",
    "import regionkit": "import regionkit",
    "plugin imports (Boxes, BaseDetector, checked, hookimpl)":
        "from regionkit import Boxes, BaseDetector, BaseWriter, checked, Range, hookimpl, ConfigError",
    "import regionkit.registry (mmengine)": "import regionkit.registry",
}
HEAVY = ("numpy", "mmengine", "torch", "ultralytics", "PIL")


def _once(code: str) -> tuple[float, list[str]]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, [m for m in out.strip().split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cli = shutil.which("regionkit", path=str(Path(sys.executable).parent))
    times: dict[str, list[float]] = {label: [] for label in CASES}
    heavy: dict[str, list[str]] = {}
    help_times: list[float] = []
    for _ in range(args.repeats):  # interleaved, so load on the machine hits every case alike
        for label, code in CASES.items():
            seconds, heavy[label] = _once(code)
            times[label].append(seconds)
        if cli:
            start = time.perf_counter()
            subprocess.run([cli, "--help"], capture_output=True, check=True)
            help_times.append(time.perf_counter() - start)
    base = statistics.median(times["empty interpreter"])
    print(f"empty interpreter: {1000 * base:.1f} ms (subtracted below); median of {args.repeats} runs")
    print(f"{'what':58s} {'ms':>7s}  heavy packages imported")
    for label in list(CASES)[1:]:
        print(f"{label:58s} {1000 * (statistics.median(times[label]) - base):7.1f}  {', '.join(heavy[label]) or '-'}")
    if help_times:
        print(f"{'regionkit --help (whole command, interpreter included)':58s} {1000 * statistics.median(help_times):7.1f}")


if __name__ == "__main__":
    main()
