"""How long a run trains: recurrent models until the validation metric stops improving, unless the length is given."""

import json

import pytest
from conftest import TINY_RNN_OVERRIDES

from modeling.arguments import parse_args
from modeling.errors import UserInputError

PLATEAU, LINEAR = "reduce_lr_on_plateau", "linear"


@pytest.mark.parametrize(
    "argv, epochs, max_steps, patience, scheduler",
    [
        (["--model_type", "attn_bilstm"], 30, -1, 3, PLATEAU),  # the data decide, within a cap
        (["--model_type", "attn_bilstm", "--num_train_epochs", "4"], 4, -1, None, LINEAR),  # trained in full
        (["--model_type", "gru", "--num_train_ep=6"], 6, -1, None, LINEAR),  # abbreviated, as argparse allows
        (["--model_type", "lstm", "--max_steps", "50"], 30, 50, None, LINEAR),
        (["--model_type", "lstm", "--num_train_epochs", "8", "--early_stopping_patience", "2"], 8, -1, 2, LINEAR),
        (["--model_type", "lstm", "--early_stopping_patience", "0"], 30, -1, 0, PLATEAU),  # off: all 30 epochs
        (["--model_type", "bert"], 3, -1, None, LINEAR),  # transformers keep their fixed length
    ],
)
def test_epochs_and_early_stopping_defaults(argv, epochs, max_steps, patience, scheduler):
    _, data_args, training_args, _ = parse_args(argv=argv)
    assert training_args.num_train_epochs == epochs and training_args.max_steps == max_steps
    assert data_args.early_stopping_patience == patience
    # A length chosen by the data cuts the learning rate when validation stalls; a fixed one decays it linearly.
    assert training_args.lr_scheduler_type.value == scheduler


def test_the_plateau_schedule_follows_the_metric():
    _, _, training_args, _ = parse_args(argv=["--model_type", "gru"])
    assert training_args.lr_scheduler_kwargs == {"mode": "max", "factor": 0.3, "patience": 0}
    assert training_args.warmup_steps == 0
    _, _, training_args, _ = parse_args(argv=["--model_type", "gru", "--metric_for_best_model", "loss"])
    assert training_args.lr_scheduler_kwargs["mode"] == "min"  # a loss is better when lower
    _, _, training_args, _ = parse_args(argv=["--model_type", "gru", "--num_train_epochs", "4"])
    assert training_args.warmup_steps == 0.05 and not training_args.lr_scheduler_kwargs  # as before


def test_epochs_default_from_a_json_file_of_arguments(tmp_path, monkeypatch):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"model_type": "lstm", "num_train_epochs": 5}))
    _, data_args, training_args, _ = parse_args(argv=[str(path)])
    assert training_args.num_train_epochs == 5 and data_args.early_stopping_patience is None
    path.write_text(json.dumps({"model_type": "lstm"}))
    _, data_args, training_args, _ = parse_args(argv=[str(path)])
    assert training_args.num_train_epochs == 30 and data_args.early_stopping_patience == 3


def test_negative_patience_is_refused():
    with pytest.raises(UserInputError, match="--early_stopping_patience must be 0"):
        parse_args(argv=["--model_type", "lstm", "--early_stopping_patience", "-1"])


def test_a_recurrent_run_stops_by_itself_and_keeps_its_best_model(run_script, tmp_path, toy_data_dir):
    output_dir = tmp_path / "run"
    run_script(
        "train", "--model_type", "attn_bilstm", "--config_overrides", TINY_RNN_OVERRIDES, "--dataset",
        "tweet_sentiment", "--data_dir", toy_data_dir, "--output_dir", output_dir, "--learning_rate", "0.02",
        "--disable_tqdm", "true",
    )  # fmt: skip
    state = json.loads((output_dir / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_f1_macro" in entry]
    assert len(evaluations) < 30, "early stopping ended the run before the cap"
    scores = [entry["eval_f1_macro"] for entry in evaluations]
    best = scores.index(max(scores))
    assert len(scores) - 1 - best == 3  # three evaluations without improvement, then it stopped
    assert state["best_global_step"] == evaluations[best]["step"]
    results = json.loads((output_dir / "all_results.json").read_text())
    assert results["eval_f1_macro"] == pytest.approx(max(scores))  # the best checkpoint is the model kept
    assert json.loads((output_dir / "training_args.json").read_text())["early_stopping_patience"] == 3
    assert "- early stopping patience: 3" in (output_dir / "README.md").read_text()
