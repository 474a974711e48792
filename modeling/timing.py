"""Latency of a model's forward pass, measured one way by scripts/evaluate_model.py and every program the benchmark
compares.

Inputs are prepared (tokenised, padded) before timing, untimed warm-up passes run first, and each timed pass is
timed on its own. Only torch is imported, so a measured program pays for nothing else.
"""

import time
from collections.abc import Callable, Iterable, Sequence

import torch

# The reference programs' protocol for single texts: 20 warm-up passes, then the median of the next 200.
SINGLE_WARMUP, SINGLE_REPEATS = 20, 200
# Batched passes cost far more each, so fewer: 3 warm-up batches, then the median of the next 20.
BATCH_WARMUP, BATCH_REPEATS = 3, 20
# How many inputs of each kind to prepare for one model: its warm-up passes and its timed ones.
SINGLE_COUNT, BATCH_COUNT = SINGLE_WARMUP + SINGLE_REPEATS, BATCH_WARMUP + BATCH_REPEATS
# Two models timed side by side take turns in blocks of this many inputs (see `alternating_latencies_ms`).
SINGLE_BLOCK, BATCH_BLOCK = 20, 5


# Looked up once: `synchronize` runs inside every timed pass, where even a microsecond check is measured.
_CUDA = torch.cuda.is_available()


def synchronize() -> None:
    """Wait for the GPU's queued work, so that a clock read next includes it (nothing to wait for on a CPU)."""
    if _CUDA:
        torch.cuda.synchronize()


@torch.no_grad()
def latencies_ms(forward: Callable[[object], object], inputs: Iterable, warmup_inputs: Iterable = ()) -> list[float]:
    """
    Milliseconds of `forward(x)` for each of `inputs`, after an untimed `forward` on each of `warmup_inputs`
    (one-off costs such as allocations and kernel selection are then not measured). On a GPU each call is timed
    between two synchronisations.
    """
    for x in warmup_inputs:
        forward(x)
    timings = []
    for x in inputs:
        synchronize()
        start = time.perf_counter()
        forward(x)
        synchronize()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


@torch.no_grad()  # warm-up passes too: with autograd on, a CPU RNN takes another path
def alternating_latencies_ms(
    sides: Sequence[tuple[Callable[[object], object], Sequence]], warmup: int, block: int
) -> list[list[float]]:
    """
    `latencies_ms` of several models timed in turns, `block` inputs each, so that a change in the machine's speed
    (frequent on a shared CPU, where it can exceed the difference being measured) falls on all of them alike.
    `sides` holds each model's `(forward, inputs)`; the first `warmup` inputs of every side are untimed warm-up
    passes, made before any timing, and the rest are timed (all of them, when there are no more than `warmup`, as
    with a small test split). Returns each side's timings, in the order of `sides`.
    """
    for forward, inputs in sides:
        for x in inputs[:warmup]:
            forward(x)
    timed = [inputs[warmup:] or inputs for _, inputs in sides]
    results: list[list[float]] = [[] for _ in sides]
    for start in range(0, max(len(inputs) for inputs in timed), block):
        for (forward, _), inputs, result in zip(sides, timed, results):
            result.extend(latencies_ms(forward, inputs[start : start + block]))
    return results
