"""A real two-process run (torchrun, gloo on CPU): every test example counted once, results written once, and
metrics that agree with a single-process run of the same effective batch size. Dropout is off, so the two runs see
the same batches and average the same gradients: they may differ only by floating-point rounding."""

import csv
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, toy_rows

TEST_ROWS = 60  # the toy test split


def arguments(output_dir, data_dir, extra, batch_size: int) -> list[str]:
    return [
        "--dataset", "tweet_sentiment", "--data_dir", str(data_dir), "--output_dir", str(output_dir),
        "--num_train_epochs", "3", "--seed", "0", "--disable_tqdm", "true", "--logging_steps", "1",
        "--per_device_train_batch_size", str(batch_size), "--per_device_eval_batch_size", "7", *extra,
    ]  # fmt: skip


def train(output_dir, data_dir, extra, processes: int) -> dict:
    """Train in `processes` processes with a global batch of 16, in subprocesses set up alike."""
    launcher = (
        ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    )
    command = [sys.executable, *launcher, str(REPO / "scripts" / "train.py")]
    command += arguments(output_dir, data_dir, extra, batch_size=16 // processes)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # The Trainer sees one (distributed) batch of 16 either way.
    assert "Total train batch size (w. parallel, distributed & accumulation) = 16" in result.stderr
    return json.loads((output_dir / "all_results.json").read_text())


@pytest.mark.parametrize(
    "name, extra",
    [
        ("lstm", ["--model_type", "lstm", "--config_overrides", "embedding_dim=16,hidden_size=16,dropout=0"]),
        pytest.param("bert", ["--model_type", "bert", "--learning_rate", "1e-3"], marks=pytest.mark.slow),
    ],
)
def test_two_processes_match_one(tmp_path, toy_data_dir, tiny_transformer_dir, name, extra):
    if name == "bert":
        extra = [*extra, "--model_name_or_path", str(tiny_transformer_dir("bert", dropout=0.0))]
    single = train(tmp_path / "single", toy_data_dir, extra, processes=1)
    double = train(tmp_path / "double", toy_data_dir, extra, processes=2)

    # Evaluation batches of 7 over 2 processes would pad 60 rows to 70 if duplicates were counted.
    with (tmp_path / "double" / "test_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == TEST_ROWS
    # Gathered from both processes back into the data's order, each text beside its own label.
    assert [(row["text"], row["label"]) for row in rows] == [(row["text"], row["label"]) for row in toy_rows(60, 2)]
    # The same batches and the same averaged gradients: the training losses agree step by step (to rounding, which
    # grows over many steps), and so do the final metrics, within noise.
    losses = {}
    for run in ("single", "double"):
        state = json.loads((tmp_path / run / "trainer_state.json").read_text())
        losses[run] = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses["single"]) == len(losses["double"]) == 45
    assert losses["double"][:10] == pytest.approx(losses["single"][:10], abs=2e-3)
    for key in ("test_accuracy", "test_f1_macro", "eval_accuracy"):
        assert abs(double[key] - single[key]) <= 0.1, (key, single[key], double[key])
