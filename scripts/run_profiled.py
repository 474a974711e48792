#!/usr/bin/env python
"""Run a Python program as `python SCRIPT ARGS...` would, and write what scripts/benchmark.py needs to know about it.

    python scripts/run_profiled.py REPORT.json SCRIPT [ARGS...]

scripts/benchmark.py runs the project's train.py and the reference programs through this file, so that every one of
them is measured by the same code. REPORT.json receives:

- `wall_s`: the program's wall time, its imports included (the interpreter's start-up is not);
- `exit_code`: 0, or the status it exited with;
- `gpu_peak_mb`: the most GPU memory torch held at once (null without a GPU);
- `peak_rss_mb`: the peak resident memory of the process (or of its largest worker process);
- with BENCHMARK_BATCH_SIZE set, for the reference programs only: `latency_ms_b1` and `latency_ms_batched`, the
  median forward time of single test texts and of batches of that many, prepared by the program's own code (its
  tokeniser, its padding) and timed with the protocol of modeling/timing.py. With BENCHMARK_PROJECT_MODEL set too
  (a train.py output folder, with BENCHMARK_COMPARISON and BENCHMARK_DATA_ROOT), that model is timed in the same
  process on the same texts, the two models taking turns, into `project_latency_ms_b1` and
  `project_latency_ms_batched`: timed apart, minutes from each other, a shared CPU's drift in speed can exceed
  the difference being measured. BENCHMARK_PROJECT_BACKENDS (default torch) lists the backends that model is timed
  on (torch, onnx, onnx_int8), each its own side; an ONNX backend's figures are `project_<backend>_latency_ms_b1`
  and `project_<backend>_latency_ms_batched`.

Only the standard library is imported before the program runs, so it pays for its own imports.
"""

import json
import os
import resource
import runpy
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def seed_bilstm_inputs(program: dict, batch_size: int, single_count: int, batch_count: int) -> tuple:
    """
    seed_bilstm.py: its model, `single_count` single test texts as it times them (rows of its test tensor, padded to
    its fixed max_len) and `batch_count` batches of `batch_size` consecutive rows.
    """
    model, test_ids, device = program["m"], program["Xte"], program["dev"]
    singles = [test_ids[i % len(test_ids) : i % len(test_ids) + 1].to(device) for i in range(single_count)]
    batches = [test_ids[i : i + batch_size].to(device) for i in range(0, len(test_ids), batch_size)][:batch_count]
    model.eval()
    return model, singles, batches


def hf_recipe_inputs(program: dict, batch_size: int, single_count: int, batch_count: int) -> tuple:
    """
    hf_recipe.py: its model, `single_count` single test texts and `batch_count` batches of `batch_size` consecutive
    ones, tokenised and padded as it does.
    """
    model, tokenizer, rows, options = program["model"], program["tok"], program["te"], program["a"]

    def encode(texts: list[str], padding: str | bool):
        return tokenizer(texts, truncation=True, max_length=128, padding=padding, return_tensors="pt").to(model.device)

    singles = [
        encode(rows[i % len(rows)]["text"], "max_length" if options.pad == "max" else False)
        for i in range(single_count)
    ]
    batch_padding = "max_length" if options.pad == "max" else True
    batches = [
        encode([row["text"] for row in rows[i : i + batch_size]], batch_padding)
        for i in range(0, min(len(rows), batch_size * batch_count), batch_size)
    ]
    model.eval()
    return (lambda encoded: model(**encoded)), singles, batches


# How to get a reference program's model and timing inputs from its globals, by its file name.
TIMING_INPUTS = {"seed_bilstm.py": seed_bilstm_inputs, "hf_recipe.py": hf_recipe_inputs}


def timed_latencies(script: str, program: dict, batch_size: int) -> dict:
    """
    The median latencies (ms) of a reference program's model at batch 1 and `batch_size`, and of the project's model
    named by BENCHMARK_PROJECT_MODEL beside it (the two taking turns); {} for a program not in TIMING_INPUTS.
    """
    build = TIMING_INPUTS.get(Path(script).name)
    if build is None:
        return {}
    from modeling.timing import (
        BATCH_BLOCK,
        BATCH_COUNT,
        BATCH_WARMUP,
        SINGLE_BLOCK,
        SINGLE_COUNT,
        SINGLE_WARMUP,
        alternating_latencies_ms,
    )

    forward, singles, batches = build(program, batch_size, SINGLE_COUNT, BATCH_COUNT)
    single_sides, batch_sides = [(forward, singles)], [(forward, batches)]
    names = ["latency_ms_"]
    project_model = os.environ.get("BENCHMARK_PROJECT_MODEL")
    if project_model:
        benchmark = runpy.run_path(str(REPO / "scripts" / "benchmark.py"))
        for backend in os.environ.get("BENCHMARK_PROJECT_BACKENDS", "torch").split(","):
            project_forward, project_singles, project_batches = benchmark["project_timing_inputs"](
                project_model, os.environ["BENCHMARK_COMPARISON"], os.environ["BENCHMARK_DATA_ROOT"], backend
            )
            single_sides.append((project_forward, project_singles))
            batch_sides.append((project_forward, project_batches))
            names.append("project_latency_ms_" if backend == "torch" else f"project_{backend}_latency_ms_")
    report = {}
    single_timings = alternating_latencies_ms(single_sides, SINGLE_WARMUP, SINGLE_BLOCK)
    batch_timings = alternating_latencies_ms(batch_sides, BATCH_WARMUP, BATCH_BLOCK)
    for name, single, batched in zip(names, single_timings, batch_timings):
        report[f"{name}b1"] = statistics.median(single)
        report[f"{name}batched"] = statistics.median(batched)
    return report


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit("usage: python scripts/run_profiled.py REPORT.json SCRIPT [ARGS...]")
    report_path, script = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[2:]  # the program sees itself as argv[0], as under `python SCRIPT`
    report: dict = {"script": script, "exit_code": 0}
    start = time.perf_counter()
    program: dict = {}
    try:
        program = runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        report["exit_code"] = code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException:
        report["exit_code"] = 1  # the traceback still reaches stderr
        raise
    finally:
        report["wall_s"] = time.perf_counter() - start
        torch = sys.modules.get("torch")
        cuda = torch is not None and torch.cuda.is_available()
        report["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
        # Read now, before any timing loads another model: the largest of this process and its workers (kilobytes).
        peak_kb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        report["peak_rss_mb"] = peak_kb / 1024
        Path(report_path).write_text(json.dumps(report))
    batch_size = int(os.environ.get("BENCHMARK_BATCH_SIZE", "0"))
    if report["exit_code"] == 0 and batch_size > 0:
        report.update(timed_latencies(script, program, batch_size))
        report["batch_size"] = batch_size
        Path(report_path).write_text(json.dumps(report))
    raise SystemExit(report["exit_code"])


if __name__ == "__main__":
    main()
