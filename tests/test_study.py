"""scripts/study.py and modeling.comparison: planning a grid, running it, resuming, failures and the comparison."""

import json
import math
import shlex
from pathlib import Path

import pandas as pd
import pytest
from conftest import load_script
from PIL import Image

from modeling.errors import UserInputError
from modeling.studies import (
    METRIC_COLUMNS,
    PlannedRun,
    check_vary,
    collect_run,
    collect_study,
    csv_table,
    markdown_table,
    parse_vary,
    plan_runs,
)

RNN_OVERRIDES = "embedding_dim=16,hidden_size=8"


def train_arguments(data_dir) -> list[str]:
    return [
        "--dataset", "tweet_sentiment", "--data_dir", str(data_dir), "--num_train_epochs", "1",
        "--per_device_train_batch_size", "32", "--config_overrides", RNN_OVERRIDES, "--disable_tqdm", "true",
    ]  # fmt: skip


def test_plan_runs_expands_two_keys_and_seeds():
    vary = [parse_vary("model_type=lstm,gru"), parse_vary("optimizer=sgd,adam")]
    runs = plan_runs(vary, seeds=[1, 2])
    assert len(runs) == 8
    combinations = [(dict(run.values)["model_type"], dict(run.values)["optimizer"], run.seed) for run in runs]
    assert combinations == [
        (model, optimizer, seed) for model in ("lstm", "gru") for optimizer in ("sgd", "adam") for seed in (1, 2)
    ]
    assert runs[0].name == "model_type-lstm_optimizer-sgd_seed-1"
    assert runs[0].label == "model_type=lstm optimizer=sgd"
    assert runs[0].train_arguments() == ["--model_type", "lstm", "--optimizer", "sgd", "--seed", "1"]
    assert [run.name for run in plan_runs(vary[:1])] == ["model_type-lstm", "model_type-gru"]
    assert [run.name for run in plan_runs([], seeds=[3])] == ["seed-3"]


def test_parse_vary_and_its_errors():
    assert parse_vary("--learning_rate=1e-3, 3e-4") == ("learning_rate", ["1e-3", "3e-4"])
    # Values that hold commas are separated by ';'.
    assert parse_vary("config_overrides=hidden_size=8,num_layers=1;hidden_size=16") == (
        "config_overrides",
        ["hidden_size=8,num_layers=1", "hidden_size=16"],
    )
    for bad in ("model_type", "model_type=lstm,", "model_type=lstm,lstm"):
        with pytest.raises(UserInputError):
            parse_vary(bad)
    with pytest.raises(UserInputError, match="more than once"):
        plan_runs([("model_type", ["lstm"]), ("model_type", ["gru"])])


def test_unknown_key_lists_train_flags(run_script, tmp_path, capsys):
    study = load_script("study")
    flags = study.train_flags()
    assert {"model_type", "optimizer", "finetune_strategy", "learning_rate"} <= set(flags)
    with pytest.raises(UserInputError, match="choices") as error:
        check_vary([("optimizer", ["sgd", "nesterov"])], flags)
    assert "nesterov" in str(error.value)
    with pytest.raises(UserInputError, match="--seeds"):
        check_vary([("seed", ["1", "2"])], flags)

    with pytest.raises(SystemExit) as exit_info:
        run_script("study", "--vary", "optimiser=sgd,adam", "--output_dir", tmp_path / "study")
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "optimiser" in message and "did you mean 'optimizer'" in message and "model_type" in message
    assert not (tmp_path / "study").exists()


def test_dry_run_lists_the_commands(run_script, tmp_path, capsys, toy_data_dir):
    study_dir = tmp_path / "study"
    run_script(
        "study", "--vary", "model_type=lstm,gru", "--seeds", "1,2", "--output_dir", study_dir, "--dry_run",
        "--", *train_arguments(toy_data_dir),
    )  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    for line, (model, seed) in zip(lines, [("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2)]):
        assert "scripts/train.py" in line and f"--model_type {model} --seed {seed}" in line
        assert f"--output_dir {study_dir / f'model_type-{model}_seed-{seed}'}" in line
        assert "--num_train_epochs 1" in line
    assert not study_dir.exists()


def fake_run(run_dir, f1_per_epoch, best_global_step=None, test_runtime=0.3, n_test=60):
    """A run folder with the files train.py leaves, for the figures the table derives from them."""
    run_dir.mkdir(parents=True)
    history = []
    for epoch, f1 in enumerate(f1_per_epoch, 1):
        history.append({"epoch": float(epoch), "step": 10 * epoch, "loss": 1.0})
        history.append({"epoch": float(epoch), "step": 10 * epoch, "eval_loss": 1 - f1, "eval_f1_macro": f1})
    state = {"log_history": history, "best_global_step": best_global_step}
    (run_dir / "trainer_state.json").write_text(json.dumps(state))
    results = {
        "eval_accuracy": max(f1_per_epoch),
        "test_accuracy": 0.7,
        "test_f1_macro": 0.65,
        "test_runtime": test_runtime,
        "train_runtime": 12.5,
        "trainable_params": 100,
        "total_params": 400,
    }
    (run_dir / "all_results.json").write_text(json.dumps(results))
    pd.DataFrame({"text": ["x"] * n_test, "label": ["a"] * n_test}).to_csv(run_dir / "test_predictions.csv")


def test_collect_run_derives_epochs_and_latency(tmp_path):
    fake_run(tmp_path / "by_metric", [0.5, 0.795, 0.8, 0.79])
    figures = collect_run(tmp_path / "by_metric")
    assert figures["best_epoch"] == 3  # highest eval_f1_macro
    assert figures["epochs_to_convergence"] == 2  # 0.795 is within 0.01 of 0.8
    assert figures["inference_ms_per_text"] == pytest.approx(0.3 / 60 * 1000)
    assert (figures["train_time_s"], figures["trainable_params"], figures["total_params"]) == (12.5, 100, 400)
    assert collect_run(tmp_path / "by_metric", tolerance=0.001)["epochs_to_convergence"] == 3
    # With the loss as the metric, the lowest is best.
    assert collect_run(tmp_path / "by_metric", metric="eval_loss")["best_epoch"] == 3

    # The Trainer's own best step wins (e.g. a run that used another metric).
    fake_run(tmp_path / "by_step", [0.5, 0.795, 0.8, 0.79], best_global_step=40)
    assert collect_run(tmp_path / "by_step")["best_epoch"] == 4


def test_seed_summary_gives_mean_and_std(tmp_path):
    runs = plan_runs([("model_type", ["lstm", "gru"])], seeds=[1, 2])
    for run, f1 in zip(runs, [[0.6], [0.8], [0.5], [0.5]]):
        fake_run(tmp_path / run.name, f1)
    # A finished run named as failed counts as failed.
    per_run = collect_study(tmp_path, runs, failed=["model_type-gru_seed-2"])
    assert list(per_run["status"]) == ["ok", "ok", "ok", "failed"]

    table = markdown_table(per_run, ["model_type"])
    lstm_row, gru_row = table.splitlines()[2:]
    assert "| lstm | 2/2 | 0.7000 ± 0.1414 |" in lstm_row and lstm_row.endswith("| ok |")
    assert "| gru | 1/2 | 0.5000 |" in gru_row
    assert "1 of 2 failed: [model_type-gru_seed-2/train.log](model_type-gru_seed-2/train.log)" in gru_row

    rows = csv_table(per_run, ["model_type"])
    assert list(rows["seed"].astype(str)) == ["1", "2", "mean", "std", "1", "2", "mean", "std"]
    mean = rows[(rows["model_type"] == "lstm") & (rows["seed"] == "mean")].iloc[0]
    std = rows[(rows["model_type"] == "lstm") & (rows["seed"] == "std")].iloc[0]
    assert mean["val_accuracy"] == pytest.approx(0.7) and std["val_accuracy"] == pytest.approx(0.141421, abs=1e-6)
    assert mean["status"] == "2/2 ok"
    gru_std = rows[(rows["model_type"] == "gru") & (rows["seed"] == "std")].iloc[0]
    assert math.isnan(gru_std["test_accuracy"])  # no spread over one finished run


def test_study_runs_compares_and_resumes(run_script, tmp_path, capsys, toy_data_dir):
    study_dir = tmp_path / "study"
    study_args = ["study", "--vary", "model_type=lstm,gru", "--output_dir", study_dir]
    run_script(*study_args, "--", *train_arguments(toy_data_dir))
    assert "[2/2] model_type-gru: done" in capsys.readouterr().out

    table = pd.read_csv(study_dir / "comparison.csv")
    assert list(table.columns) == ["model_type", "run", "status", "log", *METRIC_COLUMNS]
    assert list(table["model_type"]) == ["lstm", "gru"] and list(table["status"]) == ["ok", "ok"]
    for _, row in table.iterrows():
        results = json.loads((study_dir / row["run"] / "all_results.json").read_text())
        assert row["test_accuracy"] == pytest.approx(results["test_accuracy"], abs=1e-6)
        assert row["val_accuracy"] == pytest.approx(results["eval_accuracy"], abs=1e-6)
        assert row["inference_ms_per_text"] == pytest.approx(results["test_runtime"] / 60 * 1000, abs=1e-5)
        assert row["best_epoch"] == row["epochs_to_convergence"] == 1
        assert 0 < row["trainable_params"] <= row["total_params"]
        assert (study_dir / row["log"]).is_file()
    assert table.loc[0, "total_params"] != table.loc[1, "total_params"]  # an LSTM cell is larger than a GRU cell

    markdown = (study_dir / "comparison.md").read_text()
    assert "study.py --vary model_type=lstm,gru --output_dir" in markdown
    assert "| model_type | val accuracy | test accuracy | test macro-F1 | train time (s) |" in markdown
    assert "\n| lstm |" in markdown and "\n| gru |" in markdown
    with Image.open(study_dir / "curves.png") as image:
        assert image.format == "PNG" and image.size[0] > 100

    # Run again: both runs are reused, nothing in their folders is rewritten, the comparison stays the same.
    before = {path: path.stat().st_mtime_ns for path in study_dir.glob("model_type-*/**/*")}
    run_script(*study_args, "--", *train_arguments(toy_data_dir))
    assert capsys.readouterr().out.count("finished earlier, reused") == 2
    assert {path: path.stat().st_mtime_ns for path in study_dir.glob("model_type-*/**/*")} == before
    assert pd.read_csv(study_dir / "comparison.csv")["test_accuracy"].tolist() == table["test_accuracy"].tolist()
    run_script(*study_args, "--dry_run", "--", *train_arguments(toy_data_dir))
    assert capsys.readouterr().out.count("# finished: reused") == 2


def fake_study_run(run_dir: Path, command: list[str]) -> None:
    """A finished run folder whose train.log starts with `command`, as study.py writes it, without training."""
    fake_run(run_dir, [0.8])
    (run_dir / "train.log").write_text(f"$ {shlex.join(command)}\nrun output\n")


def folder_contents(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_finished_runs_of_other_arguments_are_neither_reused_nor_overwritten(run_script, tmp_path, capsys):
    # The run folders' names show only the varied values: a study with another dataset and epoch count maps to them.
    study = load_script("study")
    study_dir = tmp_path / "study"
    earlier = ["--dataset", "tweet_sentiment", "--num_train_epochs", "1"]
    for run in plan_runs([("model_type", ["lstm", "gru"])]):
        fake_study_run(study_dir / run.name, study.train_command(run, earlier, study_dir / run.name))
    before = folder_contents(study_dir)
    study_args = ["study", "--vary", "model_type=lstm,gru", "--output_dir", study_dir]
    now = ["--dataset", "bbc_news", "--num_train_epochs", "2"]
    changes = "--dataset was tweet_sentiment, now bbc_news; --num_train_epochs was 1, now 2"

    run_script(*study_args, "--dry_run", "--", *now)
    assert capsys.readouterr().out.count(f"# finished results of other train.py arguments ({changes}): refused") == 2

    with pytest.raises(SystemExit) as exit_info:
        run_script(*study_args, "--", *now)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    expected = (
        f"error: {study_dir / 'model_type-lstm'} (and 1 more) holds finished results of other train.py arguments "
        f"({changes}); choose another --output_dir, or move the folder away to run it again"
    )
    assert expected in error
    assert folder_contents(study_dir) == before  # nothing run, cleared or written


def test_finished_run_is_reused_when_only_the_form_of_its_command_differs(run_script, tmp_path, capsys):
    study = load_script("study")
    run = plan_runs([("model_type", ["lstm"])])[0]
    # Recorded on another machine: another interpreter and checkout, the study folder given as a relative path.
    command = study.train_command(
        run, ["--dataset", "tweet_sentiment", "--num_train_epochs", "1"], Path("study", run.name)
    )
    command[:2] = ["/opt/python3.12/bin/python", "/elsewhere/scripts/train.py"]
    run_dir = tmp_path / "study" / run.name
    fake_study_run(run_dir, command)
    before = folder_contents(run_dir)
    # Now: an absolute --output_dir, the fixed arguments in another order and spelling.
    run_script(
        "study", "--vary", "model_type=lstm", "--output_dir", tmp_path / "study",
        "--", "--num-train-epochs=1", "--dataset", "tweet_sentiment", "--overwrite_output_dir",
    )  # fmt: skip
    assert "[1/1] model_type-lstm: finished earlier, reused" in capsys.readouterr().out
    assert folder_contents(run_dir) == before
    assert pd.read_csv(tmp_path / "study" / "comparison.csv")["status"].tolist() == ["ok"]


def test_finished_results_without_a_recorded_command_are_not_reused(run_script, tmp_path, capsys):
    study_dir = tmp_path / "study"
    fake_run(study_dir / "model_type-lstm", [0.8])  # e.g. train.py run by hand into the folder: no train.log
    fake_run(study_dir / "model_type-gru", [0.8])
    (study_dir / "model_type-gru" / "train.log").write_text("run output, no command\n")
    before = folder_contents(study_dir)
    with pytest.raises(SystemExit) as exit_info:
        run_script("study", "--vary", "model_type=lstm,gru", "--output_dir", study_dir, "--", "--dataset", "x")
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"{study_dir / 'model_type-lstm'} (and 1 more) holds finished results but its train.log does not " in error
    assert folder_contents(study_dir) == before


def test_refuses_to_clear_a_folder_it_did_not_make(run_script, tmp_path, capsys):
    foreign = tmp_path / "study" / "model_type-lstm"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        run_script("study", "--vary", "model_type=lstm", "--output_dir", tmp_path / "study", "--", "--dataset", "x")
    assert exit_info.value.code == 2
    assert "is not a run of this study" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_failed_run_is_reported_and_fails_the_study(run_script, tmp_path, capsys, toy_data_dir):
    study_dir = tmp_path / "study"
    # What an interrupted earlier attempt leaves: a log and a checkpoint, no results. It is cleared and run again.
    stale = study_dir / "max_length--1"
    (stale / "checkpoint-3").mkdir(parents=True)
    (stale / "train.log").write_text("interrupted\n")
    with pytest.raises(SystemExit) as exit_info:
        run_script(
            "study", "--vary", "max_length=-1", "--output_dir", study_dir,
            "--", "--model_type", "lstm", *train_arguments(toy_data_dir),
        )  # fmt: skip
    assert exit_info.value.code == 1
    output = capsys.readouterr()
    assert "FAILED" in output.out and "max_length must be positive" in output.out
    assert "1 of 1 runs failed" in output.err

    log = study_dir / "max_length--1" / "train.log"
    assert "--max_length must be positive" in log.read_text() and "interrupted" not in log.read_text()
    assert not (stale / "checkpoint-3").exists()
    row = pd.read_csv(study_dir / "comparison.csv").iloc[0]
    assert (row["status"], row["log"]) == ("failed", "max_length--1/train.log")
    assert math.isnan(row["test_accuracy"])
    assert "failed: [max_length--1/train.log](max_length--1/train.log)" in (study_dir / "comparison.md").read_text()
    assert (study_dir / "curves.png").is_file()


def test_planned_run_folder_names_are_safe():
    run = PlannedRun((("model_name_or_path", "models/my model"),), seed=None)
    assert run.name == "model_name_or_path-models-my-model"
    with pytest.raises(UserInputError, match="share the folder"):
        plan_runs([("model_name_or_path", ["a/b", "a b"])])
