"""Bad input and faults, one row per case of issue #30: each ends in its exact one-line message (exit status 2), or
in the right result, and leaves the output folder empty, or an earlier finished run in it byte for byte unchanged.
"""

import gzip
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_RNN_OVERRIDES, load_script, toy_rows, write_jsonl_gz
from huggingface_hub import constants

TINY = ["--model_type", "attn_bilstm", "--config_overrides", TINY_RNN_OVERRIDES]
TAIL = " (run with --debug for the traceback)"
UPLOAD_FAILED = (
    "error: upload to the Hub failed (HF_HUB_OFFLINE is set); everything is saved locally in {folder}: retry with "
    "python scripts/push.py --model {folder} --hub_model_id someone/x" + TAIL
)


def call(name: str, *args) -> object:
    """Run scripts/<name>.py's main with these command-line arguments, in this process."""
    argv = sys.argv
    sys.argv = [f"{name}.py", *map(str, args)]
    try:
        return load_script(name).main()
    finally:
        sys.argv = argv


def train_args(data_dir, output_dir, *extra) -> list:
    return [*TINY, "--data_dir", data_dir, "--output_dir", output_dir, "--num_train_epochs", "1", "--seed", "3",
            "--disable_tqdm", "true", *extra]  # fmt: skip


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the SHA-256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_empty(folder: Path) -> None:
    assert not folder.exists() or not any(folder.rglob("*")), f"left behind: {sorted(folder.rglob('*'))}"


@pytest.fixture(scope="module")
def finished(tmp_path_factory, toy_data_dir) -> Path:
    """A finished tiny attn_bilstm run on the toy data, with its checkpoint kept (checkpoint-4, the last step)."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    call("train", *train_args(toy_data_dir, folder, "--keep_checkpoints"))
    return folder


class Case:
    """What a row gets: a scratch folder, the toy data, a copy of the finished run, and runners."""

    def __init__(self, tmp_path: Path, data: Path, finished: Path, capsys, monkeypatch):
        self.tmp, self.data, self.finished = tmp_path, data, finished
        self.capsys, self.monkeypatch = capsys, monkeypatch
        self.out = tmp_path / "out"

    def copy_of_finished(self) -> Path:
        folder = self.tmp / "finished"
        shutil.copytree(self.finished, folder)
        return folder

    def fails(self, script: str, *args) -> str:
        """Run a script that must fail as a user error; return its one stderr line (and check there is one)."""
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            call(script, *args)
        assert exit_info.value.code == 2
        err = self.capsys.readouterr().err
        lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
        return lines[0]

    def data_dir(self, name: str, files: dict) -> Path:
        folder = self.tmp / name
        folder.mkdir()
        for file_name, content in files.items():
            if isinstance(content, bytes):
                (folder / file_name).write_bytes(content)
            else:
                write_jsonl_gz(folder / file_name, content)
        return folder

    def config(self, name: str, text: str) -> Path:
        path = self.tmp / f"{name}.yaml"
        path.write_text(text)
        return path

    def offline(self) -> None:
        self.monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        self.monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once at import


def case_1_resume_with_other_data(c: Case) -> None:
    run = c.copy_of_finished()
    before = snapshot(run)
    message = c.fails(
        "train", *train_args(c.data, run, "--keep_checkpoints", "--resume_from_checkpoint", "last",
                             "--max_train_samples", "200"),
    )  # fmt: skip
    assert message == (
        f"error: cannot resume from {run}/checkpoint-4: it was trained with --max_train_samples (not given), this run "
        "has --max_train_samples 200; resume with the same arguments, or start afresh with --overwrite_output_dir "
        "(or another --output_dir)" + TAIL
    )
    assert snapshot(run) == before


def case_2_test_text_over_128_kb(c: Case) -> None:
    huge = {"text": " ".join(["good", "day"] * 40_000), "label": "positive"}  # 320 KB, over csv's 128 KB field limit
    data = c.data_dir("huge", {})
    for split in ("train", "validation"):
        shutil.copy(c.data / f"{split}.jsonl.gz", data / f"{split}.jsonl.gz")
    write_jsonl_gz(data / "test.jsonl.gz", [*toy_rows(60, 2), huge])
    call("train", *train_args(data, c.out))
    assert "The test split has 61 texts." in (c.out / "README.md").read_text()
    # The folder can be uploaded: offline, the push fails as a push and leaves the folder as it was.
    c.offline()
    before = snapshot(c.out)
    assert c.fails("push", "--model", c.out, "--hub_model_id", "someone/x") == UPLOAD_FAILED.format(folder=c.out)
    assert snapshot(c.out) == before


def case_3_damaged_weights(c: Case) -> None:
    run = c.copy_of_finished()
    weights = run / "model.safetensors"
    whole = weights.read_bytes()
    damages = {
        b"": "header too small",
        whole[: len(whole) // 2]: "incomplete metadata, file not fully covered",
        (16).to_bytes(8, "little") + b"{not json header}" + whole[25:]: "invalid JSON in header: key must be a string "
        "at line 1 column 2",
    }
    for content, reason in damages.items():
        weights.write_bytes(content)
        before = snapshot(run)
        expected = f"error: {weights} is damaged (Error while deserializing header: {reason}); copy it again or " + (
            "train the model again" + TAIL
        )
        assert c.fails("predict", "--model", run, "good day") == expected
        assert c.fails("evaluate_model", "--model", run, "--dataset", "tweet_sentiment", "--data_dir", c.data) == (
            expected
        )
        assert snapshot(run) == before


def case_4_single_class(c: Case) -> None:
    rows = [{"text": f"good day {i}", "label": "positive"} for i in range(30)]
    data = c.data_dir("one_class", {"train.jsonl.gz": rows})
    bare = c.config("one_class", "name: one_class\n")  # no label_names: the labels come from the data
    message = "error: the train split of '{}' holds one class ('positive'); a classifier needs training examples " + (
        "of at least two classes" + TAIL
    )
    assert c.fails("train", *train_args(data, c.out, "--dataset", bare)) == message.format("one_class")
    # A config that names three classes: the same.
    assert c.fails("train", *train_args(data, c.out, "--dataset", "tweet_sentiment")) == message.format(
        "tweet_sentiment"
    )
    assert_empty(c.out)


def case_5_arguments_checked_before_anything_runs(c: Case) -> None:
    expected = {
        ("--config_overrides", "hidden_size=abc"): "--config_overrides: hidden_size takes a whole number, got 'abc'",
        ("--config_overrides", "hidden_size=-3"): "--config_overrides: hidden_size must be a positive whole number, "
        "got -3",
        ("--config_overrides", "dropout=2"): "--config_overrides: dropout must be in [0, 1), got 2",
        ("--metric_for_best_model", "f1"): "--metric_for_best_model f1 is not reported for "
        "single_label_classification data; choose one of: accuracy, precision_macro, recall_macro, f1_macro, "
        "precision_weighted, recall_weighted, f1_weighted, loss",
    }
    for (flag, value), message in expected.items():
        args = ["--model_type", "attn_bilstm", "--data_dir", c.data, "--output_dir", c.out, flag, value]
        if flag != "--config_overrides":
            args += ["--config_overrides", TINY_RNN_OVERRIDES]
        started = time.perf_counter()
        assert c.fails("train", *args) == f"error: {message}" + TAIL
        assert time.perf_counter() - started < 5, "checked after loading data or training"
        assert_empty(c.out)


def case_6_data_errors_name_the_problem(c: Case) -> None:
    empty = c.data_dir("empty", {"train.jsonl": b""})
    assert c.fails("train", *train_args(empty, c.out)) == (
        f"error: {empty}/train.jsonl is empty; give it one row per text" + TAIL
    )
    rows = b"text,label\ngood day,positive\nbad day,negative\n"
    header_only = c.data_dir("header", {"train.csv": b"text,label\n", "validation.csv": rows, "test.csv": rows})
    assert c.fails("train", *train_args(header_only, c.out)) == (
        f"error: {header_only}/train.csv holds no rows (only a header?); give it one row per text" + TAIL
    )
    renamed = c.data_dir(
        "renamed", {"train.csv": rows * 10, "validation.csv": b"body,label\nhi,positive\n", "test.csv": rows}
    )
    assert c.fails("train", *train_args(renamed, c.out)) == (
        "error: split 'validation' of 'tweet_sentiment' has no column 'text'; columns found: ['body', 'label']. "
        "Set text_column / label_column in the data config, or pass --text_column / --label_column" + TAIL
    )
    assert_empty(c.out)


def case_7_encoding_and_compression(c: Case) -> None:
    lines = b'{"text": "good day", "label": "positive"}\n{"text": "caf\xe9 awful", "label": "negative"}\n'
    latin1 = c.data_dir("latin1", {"train.jsonl.gz": gzip.compress(lines)})
    assert c.fails("train", *train_args(latin1, c.out)) == (
        f"error: {latin1}/train.jsonl.gz:2: not valid UTF-8 (invalid continuation byte)" + TAIL
    )
    cut = c.data_dir("cut", {"train.jsonl.gz": (c.data / "train.jsonl.gz").read_bytes()[:-30]})
    assert c.fails("train", *train_args(cut, c.out)) == (
        f"error: {cut}/train.jsonl.gz: the gzip file is cut short or damaged (Compressed file ended before the "
        "end-of-stream marker was reached); copy it again" + TAIL
    )
    assert_empty(c.out)


def case_8_data_config_values(c: Case) -> None:
    configs = {
        "name: neg\nmax_length: -5\n": "max_length must be a positive whole number of tokens, got -5",
        "name: str\nlabel_names: negative\n": "label_names must be a list of class names, e.g. [negative, positive], "
        "got 'negative'",
        "name: bad\nlabel_names: [a, b\n": "not valid YAML at line 3 (expected ',' or ']', but got '<stream end>')",
        "- name: listed\n": "a data config is a mapping of keys to values, not a list; the schema is in "
        "data_configs/README.md",
    }
    for i, (text, message) in enumerate(configs.items()):
        path = c.config(f"config{i}", text)
        assert c.fails("train", *train_args(c.data, c.out, "--dataset", path)) == f"error: {path}: {message}" + TAIL
    rows = [{"text": row["text"], "label": i % 3} for i, row in enumerate(toy_rows(30, 0))]
    rows[4]["label"] = 1.5
    half = c.data_dir("half", {"train.jsonl.gz": rows})
    assert c.fails("train", *train_args(half, c.out)) == (
        "error: label 1.5 in the train split is not a class id: ids are whole numbers in 0..2" + TAIL
    )
    assert_empty(c.out)


def case_9_more_one_line_errors(c: Case) -> None:
    assert c.fails("train", *train_args(c.data, c.out, "--lerning_rate", "0.1")) == (
        "error: unknown argument --lerning_rate on the command line; did you mean --learning_rate? --help lists them "
        "all" + TAIL
    )
    assert c.fails("train", *train_args(c.data, c.out, "--warmup_steps", "-1")) == (
        "error: Got warmup_steps = -1.0, Expected value warmup_steps >= 0" + TAIL
    )
    arguments = c.tmp / "args.json"
    arguments.write_text(json.dumps({"model_type": "lstm", "output_dir": str(c.out), "lerning_rate": 0.1}))
    assert c.fails("train", arguments) == (
        f"error: unknown argument --lerning_rate in {arguments}; did you mean --learning_rate? --help lists them all"
        + TAIL
    )
    a_file = c.tmp / "a_file"
    a_file.write_text("mine")
    is_a_file = f"error: --output_dir {a_file} is a file; give a folder" + TAIL
    assert c.fails("train", *train_args(c.data, a_file)) == is_a_file
    run = c.copy_of_finished()
    before = snapshot(run)
    assert (
        c.fails(
            "evaluate_model",
            "--model",
            run,
            "--dataset",
            "tweet_sentiment",
            "--data_dir",
            c.data,
            "--output_dir",
            a_file,
        )
        == is_a_file
    )
    if not torch.cuda.is_available():
        assert c.fails("predict", "--model", run, "--device", "cuda:0", "good day") == (
            "error: --device cuda:0: this machine has no CUDA device; use --device cpu" + TAIL
        )
    assert snapshot(run) == before and a_file.read_text() == "mine"
    c.offline()
    assert c.fails("train", "--model_type", "distilbert", "--data_dir", c.data, "--output_dir", c.out) == (
        "error: cannot load 'distilbert-base-uncased': the Hugging Face Hub cannot be reached (HF_HUB_OFFLINE is "
        "set); pass --model_name_or_path with a local folder holding the checkpoint (config.json, "
        "weights, tokenizer)" + TAIL
    )
    assert_empty(c.out)

    # A full disk while the first checkpoint is saved: one line, and no weightless checkpoint-4 left behind.
    from safetensors import SafetensorError
    from transformers import modeling_utils

    def disk_full(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space '
                              'left on device" })')  # fmt: skip

    c.monkeypatch.setattr(modeling_utils, "safe_save_file", disk_full)
    assert c.fails("train", *train_args(c.data, c.out)) == (
        f"error: could not save {c.out}/checkpoint-4: no space left on device; free some space (or fix the folder), "
        "then continue the run with --resume_from_checkpoint last" + TAIL
    )
    assert_empty(c.out)
    c.monkeypatch.undo()

    # --save_strategy no (or --eval_strategy no) turns the best-model default off rather than failing.
    call("train", *train_args(c.data, c.out, "--save_strategy", "no"))
    assert json.loads((c.out / "training_args.json").read_text())["load_best_model_at_end"] is False


def case_10_whole_run_figures_after_a_resume(c: Case) -> None:
    run = c.copy_of_finished()
    before = json.loads((run / "all_results.json").read_text())
    call("train", *train_args(c.data, run, "--keep_checkpoints", "--resume_from_checkpoint", "last"))
    after = json.loads((run / "all_results.json").read_text())
    assert before["train_loss"] > 0
    assert after["train_loss"] == pytest.approx(before["train_loss"], rel=1e-9)  # not 0.0: no step since the resume
    assert after["train_runtime"] >= before["train_runtime"]
    for key in ("test_loss", "test_accuracy", "test_f1_macro"):
        assert after[key] == before[key], key


def case_11_folder_code_never_runs(c: Case) -> None:
    run = c.copy_of_finished()
    marker = c.tmp / "code_ran"
    (run / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nfrom transformers import *\n")
    config = json.loads((run / "config.json").read_text())
    config.update(
        model_type="evil_rnn",
        auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilModel"},
    )
    (run / "config.json").write_text(json.dumps(config))
    before = snapshot(run)
    c.monkeypatch.setattr("builtins.input", lambda *args: pytest.fail("prompted"))
    assert c.fails("predict", "--model", run, "--json", "good day") == (
        f"error: {run} holds a model of type 'evil_rnn' that needs its own code (auto_map in config.json), which "
        "this package does not define; its code is not run. Load it yourself with trust_remote_code=True if you "
        "trust it" + TAIL
    )
    assert not marker.exists() and snapshot(run) == before


def case_12_predict_marks_what_it_changed(c: Case) -> None:
    before = snapshot(c.finished)
    texts = c.tmp / "texts.txt"
    texts.write_bytes(b"good great\n\ncaf\xe9 bad\n   \n")
    c.capsys.readouterr()
    call("predict", "--model", c.finished, "--file", texts, "--json")
    output = c.capsys.readouterr()
    rows = [json.loads(line) for line in output.out.splitlines()]
    assert [row["text"] for row in rows] == ["good great", "", "caf\ufffd bad", "   "]  # one row per line, in order
    assert [row["empty"] for row in rows] == [False, True, False, True]
    assert [line for line in output.err.splitlines() if line.startswith("warning:")] == [
        f"warning: {texts}: 1 line(s) hold bytes that are not UTF-8 (first: line 3); they were read as U+FFFD. "
        "Re-encode the file as UTF-8 for exact texts",
        "warning: 2 empty text(s) (first: text 2); each keeps its row, marked empty, with what the model predicts "
        "for no words",
    ]
    assert snapshot(c.finished) == before


def case_13_hub_dataset_offline(c: Case) -> None:
    started = time.perf_counter()
    message = c.fails("train", *TINY, "--dataset", "20newsgroups", "--output_dir", c.out)
    assert message == (
        "error: dataset '20newsgroups' (SetFit/20_newsgroups) cannot be loaded: the Hugging Face Hub cannot be "
        "reached (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set); download it and pass --data_dir DIR "
        "with train.jsonl.gz, test.jsonl.gz (or .jsonl, .csv, .parquet), columns text, label" + TAIL
    )
    assert time.perf_counter() - started < 10  # no rounds of retries
    assert_empty(c.out)


def case_14_failed_push_changes_nothing(c: Case) -> None:
    run = c.copy_of_finished()
    before = snapshot(run)
    c.offline()
    assert c.fails("push", "--model", run, "--hub_model_id", "someone/x") == UPLOAD_FAILED.format(folder=run)
    assert snapshot(run) == before  # the card still names no repository


def case_15_one_loss_one_name(c: Case) -> None:
    run = c.finished
    assert json.loads((run / "training_args.json").read_text())["label_smoothing_factor"] > 0  # training smooths
    results = call(
        "evaluate_model", "--model", run, "--dataset", "tweet_sentiment", "--data_dir", c.data,
        "--output_dir", c.tmp / "eval", "--latency_samples", "0",
    )  # fmt: skip
    trained = json.loads((run / "all_results.json").read_text())
    assert trained["test_loss"] == pytest.approx(results["loss"], abs=1e-5)


CASES = [value for name, value in sorted(globals().items(), key=lambda item: item[0]) if name.startswith("case_")]
CASES.sort(key=lambda case: int(case.__name__.split("_")[1]))


@pytest.mark.parametrize("case", CASES, ids=[case.__name__.removeprefix("case_") for case in CASES])
def test_bad_input(case, tmp_path, toy_data_dir, finished, capsys, monkeypatch):
    case(Case(tmp_path, toy_data_dir, finished, capsys, monkeypatch))
