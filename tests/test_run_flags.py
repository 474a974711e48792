"""train.py flags that used to be accepted and ignored: --do_train/--do_eval/--do_predict, --report_to, --hub_strategy,
--fp16/--bf16, and --text_column/--label_column for files whose columns are not the config's."""

import json
import shutil
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import load_script, tiny_overrides, toy_rows, write_jsonl_gz

from modeling import arguments
from modeling.data import load_data_config, override_columns
from modeling.errors import UserInputError
from modeling.run_folder import clear_previous_run


def two_class_rows(n: int, seed: int) -> list[dict]:
    """Negative and positive toy texts in columns `text` and `sentiment` (sst2's config expects `sentence`)."""
    rows = [row for row in toy_rows(3 * n, seed) if row["label"] != "neutral"][:n]
    return [{"text": row["text"], "sentiment": row["label"]} for row in rows]


@pytest.fixture(scope="module")
def sst2_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sst2_text_column")
    for split, n, seed in (("train", 120, 0), ("validation", 40, 1), ("test", 40, 2)):
        write_jsonl_gz(folder / f"{split}.jsonl.gz", two_class_rows(n, seed))
    return folder


def data_flags(folder) -> list[str]:
    return ["--dataset", "sst2", "--data_dir", str(folder), "--text_column", "text", "--label_column", "sentiment"]


def run_train(*args) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["train.py", *map(str, args)])
        load_script("train").main()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sst2_files):
    """A GRU trained with --do_train --do_eval (no test stage) on sst2 data in other columns, with TensorBoard."""
    folder = tmp_path_factory.mktemp("trained") / "run"
    run_train(
        "--model_type", "gru", "--config_overrides", tiny_overrides("gru"), *data_flags(sst2_files),
        "--output_dir", folder, "--num_train_epochs", "1", "--seed", "0", "--disable_tqdm", "true",
        "--do_train", "--do_eval", "--report_to", "tensorboard",
    )  # fmt: skip
    return folder


def test_text_and_label_columns_override_the_config(trained, sst2_files, run_script, tmp_path, capsys):
    config = json.loads((trained / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert json.loads((trained / "training_args.json").read_text())["text_column"] == "text"
    # Without the flags the config's `sentence` column is missing: a one-line error naming them, nothing written.
    with pytest.raises(SystemExit):
        run_script(
            "train", "--model_type", "gru", "--dataset", "sst2", "--data_dir", sst2_files,
            "--output_dir", tmp_path / "x",
        )  # fmt: skip
    assert "has no column 'sentence'" in capsys.readouterr().err and not (tmp_path / "x").exists()
    with pytest.raises(UserInputError, match="--text_column must name a column"):
        override_columns(load_data_config("sst2"), text_column=" , ")
    two = override_columns(load_data_config("sst2"), text_column="title, body", label_column="stars")
    assert (two.text_columns, two.label_column) == (["title", "body"], "stars")


def test_do_train_and_do_eval_skip_the_test_stage(trained):
    assert (trained / "model.safetensors").is_file() and (trained / "eval_results.json").is_file()
    assert not (trained / "test_results.json").exists() and not (trained / "test_predictions.csv").exists()
    assert "test_accuracy" not in json.loads((trained / "all_results.json").read_text())


def test_do_predict_alone_uses_the_model_in_output_dir_and_keeps_it(trained, sst2_files, tmp_path):
    folder = shutil.copytree(trained, tmp_path / "copy")
    weights, card = (folder / "model.safetensors").read_bytes(), (folder / "README.md").read_text()
    run_train("--model_type", "gru", *data_flags(sst2_files), "--output_dir", folder, "--do_predict")
    assert (folder / "model.safetensors").read_bytes() == weights and (folder / "README.md").read_text() == card
    results = json.loads((folder / "all_results.json").read_text())
    assert 0 <= results["test_accuracy"] <= 1 and "eval_accuracy" in results  # merged with the training run's
    assert (folder / "test_predictions.csv").is_file() and (folder / "classification_report.txt").is_file()


def test_do_eval_with_a_trained_folder_writes_results_elsewhere(trained, sst2_files, tmp_path):
    output_dir = tmp_path / "evaluated"
    run_train(
        "--model_type", "gru", *data_flags(sst2_files), "--model_name_or_path", trained, "--output_dir", output_dir,
        "--do_eval",
    )  # fmt: skip
    evaluated = json.loads((output_dir / "eval_results.json").read_text())
    original = json.loads((trained / "eval_results.json").read_text())
    assert evaluated["eval_accuracy"] == original["eval_accuracy"]
    assert evaluated["eval_loss"] == pytest.approx(original["eval_loss"], rel=1e-5)
    assert not (output_dir / "config.json").exists() and not (output_dir / "test_results.json").exists()


def test_without_do_train_a_trained_model_is_needed(sst2_files, tmp_path, trained, run_script, capsys):
    flags = ["--model_type", "gru", *data_flags(sst2_files), "--do_eval"]
    with pytest.raises(SystemExit):
        run_script("train", *flags, "--output_dir", tmp_path / "empty")
    assert "holds no trained model" in capsys.readouterr().err and not (tmp_path / "empty").exists()
    with pytest.raises(SystemExit):
        run_script("train", *flags, "--output_dir", trained, "--push_to_hub")
    assert "--push_to_hub needs --do_train" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a recurrent model is not another recurrent type
        run_script("train", "--model_type", "lstm", *flags[2:], "--output_dir", trained)
    assert "holds a gru model, not --model_type lstm" in capsys.readouterr().err


def test_tensorboard_logs_under_output_dir_and_overwrite_clears_them(trained, tmp_path):
    events = list((trained / "runs").glob("*/events.out.tfevents.*"))
    assert events, "TensorBoard wrote no event file under output_dir/runs"
    folder = shutil.copytree(trained, tmp_path / "copy")
    assert "runs" in clear_previous_run(folder)  # what --overwrite_output_dir does first
    assert not (folder / "runs").exists()


def test_a_missing_tracker_is_refused_before_anything_is_written(run_script, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(arguments, "tracker_available", lambda name: name != "tensorboard")
    with pytest.raises(SystemExit):
        run_script("train", "--model_type", "gru", "--output_dir", tmp_path / "run", "--report_to", "tensorboard")
    error = capsys.readouterr().err
    assert 'tensorboard is not installed; pip install -e ".[tracking]"' in error and error.count("\n") == 1
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(arguments, "tracker_available", lambda name: False)
    with pytest.raises(SystemExit):
        run_script("train", "--model_type", "gru", "--output_dir", tmp_path / "run", "--report_to", "wandb")
    assert "wandb is not installed; pip install wandb" in capsys.readouterr().err


def test_checkpoint_hub_strategies_are_refused(run_script, tmp_path, capsys):
    for strategy in ("checkpoint", "all_checkpoints"):
        with pytest.raises(SystemExit):
            run_script("train", "--model_type", "gru", "--output_dir", tmp_path / "run", "--hub_strategy", strategy)
        assert f"--hub_strategy {strategy}: train.py uploads the finished run once" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 is refused only on the CPU")
def test_fp16_on_the_cpu_is_refused(run_script, tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_script("train", "--model_type", "gru", "--output_dir", tmp_path / "run", "--fp16")
    assert "--fp16 needs a GPU and this run is on the CPU" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_bf16_where_torch_says_unsupported_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Old GPU")
    old_gpu = SimpleNamespace(device=torch.device("cuda", 0), fp16=False, bf16=True)
    with pytest.raises(UserInputError, match=r"--bf16: this GPU \(Old GPU\) has no bfloat16"):
        arguments.check_precision(old_gpu)
    arguments.check_precision(SimpleNamespace(device=torch.device("cpu"), fp16=False, bf16=True))  # CPU autocast
