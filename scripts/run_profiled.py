#!/usr/bin/env python
"""Run a Python program as `python SCRIPT ARGS...` would, and write what scripts/benchmark.py needs to know about it.

    python scripts/run_profiled.py REPORT.json SCRIPT [ARGS...]

scripts/benchmark.py runs the project's train.py and the reference programs through this file, so that every one of
them is measured by the same code. REPORT.json receives:

- `wall_s`: the program's wall time, its imports included (the interpreter's start-up is not);
- `exit_code`: 0, or the status it exited with;
- `gpu_peak_mb`: the most GPU memory torch held at once (null without a GPU);
- `latency_ms_batched` (with BENCHMARK_BATCH_SIZE set, for the reference programs only): the median forward time
  of a batch of that many test texts, prepared by the program's own code (its tokeniser, its padding) and timed
  the way it times single texts.

Only the standard library is imported before the program runs, so it pays for its own imports.
"""

import json
import os
import runpy
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def seed_bilstm_batches(program: dict, batch_size: int, repeats: int) -> tuple:
    """seed_bilstm.py: its model on `repeats` consecutive slices of its test tensor (padded to its fixed max_len)."""
    model, test_ids, device = program["m"], program["Xte"], program["dev"]
    batches = [test_ids[i : i + batch_size].to(device) for i in range(0, len(test_ids), batch_size)][:repeats]
    model.eval()
    return model, batches


def hf_recipe_batches(program: dict, batch_size: int, repeats: int) -> tuple:
    """hf_recipe.py: its model on `repeats` batches of consecutive test texts, tokenised and padded as it does."""
    model, tokenizer, rows, options = program["model"], program["tok"], program["te"], program["a"]
    padding = "max_length" if options.pad == "max" else True
    batches = []
    for i in range(0, min(len(rows), batch_size * repeats), batch_size):
        texts = [row["text"] for row in rows[i : i + batch_size]]
        encoded = tokenizer(texts, truncation=True, max_length=128, padding=padding, return_tensors="pt")
        batches.append(encoded.to(model.device))
    model.eval()
    return model, batches


# How to build batches of test inputs from each reference program's globals, by its file name.
BATCHED_INPUTS = {"seed_bilstm.py": seed_bilstm_batches, "hf_recipe.py": hf_recipe_batches}


def batched_latency(script: str, program: dict, batch_size: int) -> float | None:
    """The median forward time in ms of `batch_size` test texts of a reference program, or None for others."""
    build = BATCHED_INPUTS.get(Path(script).name)
    if build is None:
        return None
    sys.path.insert(0, str(REPO))
    import torch

    from modeling.timing import BATCH_REPEATS, BATCH_WARMUP, latencies_ms

    model, batches = build(program, batch_size, BATCH_REPEATS)
    forward = model if isinstance(batches[0], torch.Tensor) else (lambda encoded: model(**encoded))
    return statistics.median(latencies_ms(forward, batches, batches[:BATCH_WARMUP]))


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit("usage: python scripts/run_profiled.py REPORT.json SCRIPT [ARGS...]")
    report_path, script = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[2:]  # the program sees itself as argv[0], as under `python SCRIPT`
    sys.path[0] = str(Path(script).resolve().parent)
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
        Path(report_path).write_text(json.dumps(report))
    batch_size = int(os.environ.get("BENCHMARK_BATCH_SIZE", "0"))
    if report["exit_code"] == 0 and batch_size > 0:
        report["latency_ms_batched"] = batched_latency(script, program, batch_size)
        report["batch_size"] = batch_size
        Path(report_path).write_text(json.dumps(report))
    raise SystemExit(report["exit_code"])


if __name__ == "__main__":
    main()
