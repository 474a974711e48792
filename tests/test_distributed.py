"""A real two-process run (torchrun, gloo on CPU): every test example counted once, results written once, and
metrics that agree with a single-process run of the same effective batch size."""

import csv
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

TEST_ROWS = 60  # the toy test split


def train(output_dir, data_dir, extra, processes: int, batch_size: int) -> dict:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = command if processes > 1 else [sys.executable]
    command += [
        str(REPO / "scripts" / "train.py"), "--dataset", "tweet_sentiment", "--data_dir", str(data_dir),
        "--output_dir", str(output_dir), "--num_train_epochs", "3", "--seed", "0", "--disable_tqdm", "true",
        "--per_device_train_batch_size", str(batch_size), "--per_device_eval_batch_size", "7", *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("Total train batch size (w. parallel, distributed & accumulation) = 16") >= 1
    return json.loads((output_dir / "all_results.json").read_text())


@pytest.mark.parametrize(
    "name, extra",
    [
        (
            "lstm",
            [
                "--model_type",
                "lstm",
                "--config_overrides",
                "embedding_dim=16,hidden_size=16",
                "--learning_rate",
                "1e-2",
            ],
        ),
        ("bert", ["--model_type", "bert", "--learning_rate", "1e-3"]),
    ],
)
def test_two_processes_match_one(tmp_path, toy_data_dir, tiny_transformer_dir, name, extra):
    if name == "bert":
        extra = [*extra, "--model_name_or_path", str(tiny_transformer_dir("bert"))]
    single = train(tmp_path / "single", toy_data_dir, extra, processes=1, batch_size=16)
    double = train(tmp_path / "double", toy_data_dir, extra, processes=2, batch_size=8)

    # Evaluation batches of 7 over 2 processes would pad 60 rows to 70 if duplicates were counted.
    with (tmp_path / "double" / "test_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == TEST_ROWS
    for key in ("test_accuracy", "test_f1_macro", "eval_accuracy"):
        assert abs(double[key] - single[key]) <= 0.1, (key, single[key], double[key])
    state = json.loads((tmp_path / "double" / "trainer_state.json").read_text())
    assert state["global_step"] == json.loads((tmp_path / "single" / "trainer_state.json").read_text())["global_step"]
