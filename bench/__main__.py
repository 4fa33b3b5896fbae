"""Run the benchmarks and write BENCHMARKS.md: ``python -m bench [name ...]``.

Every ``bench/bench_*.py`` module with a ``run() -> dict`` is a benchmark; each runs in its
own Python process (Spark, Qt and brokers never share one), prints its figures as JSON, and
the figures are written beside the machine's facts and, where a module declares
``TARGETS = {"dotted.path": (">=" | "<=", value)}``, beside their targets.
Names select modules: ``python -m bench processor kafka`` runs bench_processor and
bench_kafka only; the other modules' sections of BENCHMARKS.md are kept as they were.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
REPORT = ROOT / "BENCHMARKS.md"
RUNNER = (
    "import json, importlib, sys; print(json.dumps(importlib.import_module(sys.argv[1]).run()))"
)


def modules(selected: list[str]) -> list[str]:
    names = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    if selected:
        names = [n for n in names if n.removeprefix("bench_") in selected or n in selected]
    return names


def run_module(name: str) -> tuple[dict[str, Any] | None, float, str]:
    """The module's figures (None if it failed), seconds taken, and its stderr tail."""
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, f"bench.{name}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - began
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None, took, done.stderr[-2000:]
    return json.loads(lines[-1]), took, ""


def machine() -> dict[str, str]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if "model name" in line),
        platform.processor() or "?",
    )
    memory_kb = next(
        (int(line.split()[1]) for line in _lines("/proc/meminfo") if "MemTotal" in line), 0
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return {
        "cores (nproc)": str(os.cpu_count()),
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "CPU": cpu,
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Java": (java.stderr.splitlines() or ["?"])[0],
        **{
            name: _version(name)
            for name in ("pyspark", "pandas", "numpy", "pyarrow", "confluent-kafka")
        },
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def verdict(value: Any, target: tuple[str, float] | None) -> str:
    if target is None:
        return ""
    op, bound = target
    if not isinstance(value, int | float):
        return f"{op} {bound:g}: missed"
    met = value >= bound if op == ">=" else value <= bound
    return f"{op} {bound:g}: {'met' if met else 'MISSED'}"


def targets_of(name: str) -> dict[str, tuple[str, float]]:
    sys.path.insert(0, str(ROOT))
    try:
        module = __import__(f"bench.{name}", fromlist=["TARGETS"])
    except Exception:  # a module that cannot even import reports itself as failed
        return {}
    return dict(getattr(module, "TARGETS", {}))


def section(name: str, figures: dict[str, Any] | None, took: float, error: str) -> list[str]:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"## {name} ({took:.0f} s, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {load})", ""]
    if figures is None:
        return [*lines, "Failed:", "", "```", error.strip(), "```", ""]
    targets = targets_of(name)
    lines += ["| figure | value | target |", "| --- | --- | --- |"]
    for path, value in flatten(figures).items():
        target = next((t for suffix, t in targets.items() if path.endswith(suffix)), None)
        lines.append(f"| {path} | {value} | {verdict(value, target)} |")
    return [*lines, ""]


def previous_sections() -> dict[str, list[str]]:
    """The module sections of the current BENCHMARKS.md, by module name."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    lines = REPORT.read_text().splitlines() if REPORT.exists() else []
    for line in lines:
        if line.startswith("## "):
            current = sections.setdefault(line[3:].split(" ", 1)[0], [])
        elif line.startswith("Load average at the end"):
            current = None
        if current is not None:
            current.append(line)
    return sections


def main(argv: list[str]) -> int:
    facts = machine()
    report = [
        "# Benchmarks",
        "",
        f"Written by `python -m bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in facts.items()),
        "",
    ]
    failed = 0
    kept = previous_sections()
    chosen = modules(argv)
    for name in modules([]):
        if name not in chosen:
            report += kept.get(name, [])
            continue
        print(f"== {name}", flush=True)
        figures, took, error = run_module(name)
        failed += figures is None
        print(json.dumps(figures, indent=2) if figures is not None else error, flush=True)
        report += section(name, figures, took, error)
    report.append(f"Load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}.")
    REPORT.write_text("\n".join(report) + "\n")
    print(f"wrote {REPORT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
