"""Bad input gets a one-line error and leaves nothing behind; interrupted runs resume to the same result."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, TINY_RNN_OVERRIDES, toy_rows, write_jsonl_gz

from modeling.data import load_data_config, tokenize_splits
from modeling.data.tokenization import train_word_tokenizer
from modeling.errors import UserInputError

TINY_LSTM = ["--model_type", "lstm", "--config_overrides", "embedding_dim=16,hidden_size=8"]


def run_cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run train.py as a user would, from the repository root."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(REPO / "scripts" / "train.py"), *map(str, args)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def expect_user_error(run_script, capsys, output_dir, *args, match: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_script("train", *args, "--output_dir", output_dir)
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: ") and match in message, message
    assert not output_dir.exists() or not any(output_dir.iterdir()), "a failed run left files behind"
    return message


def data_dir_with(tmp_path, name: str, files: dict[str, list[dict] | bytes]):
    folder = tmp_path / name
    folder.mkdir()
    for file_name, content in files.items():
        if isinstance(content, bytes):
            (folder / file_name).write_bytes(content)
        else:
            write_jsonl_gz(folder / file_name, content)
    return folder


def test_one_line_errors_for_bad_input(run_script, capsys, tmp_path, toy_data_dir):
    out = tmp_path / "out"
    expect_user_error(run_script, capsys, out, "--model_type", "transformer_xl", match="choose one of: lstm")
    expect_user_error(run_script, capsys, out, *TINY_LSTM, "--dataset", "nope", match="tweet_sentiment")
    expect_user_error(run_script, capsys, out, *TINY_LSTM, "--data_dir", tmp_path / "missing", match="does not exist")
    renamed = data_dir_with(tmp_path, "renamed", {"train.jsonl.gz": [{"body": "hi", "label": "positive"}]})
    expect_user_error(run_script, capsys, out, *TINY_LSTM, "--data_dir", renamed, match="['body', 'label']")
    empty = data_dir_with(tmp_path, "empty", {"train.jsonl.gz": [{"text": "  ", "label": "positive"}]})
    expect_user_error(run_script, capsys, out, *TINY_LSTM, "--data_dir", empty, match="no rows with text")
    unseen = data_dir_with(
        tmp_path,
        "unseen",
        {"train.jsonl.gz": toy_rows(30, 0), "test.jsonl.gz": [{"text": "hm", "label": "sarcastic"}]},
    )
    unseen_config = tmp_path / "unseen.yaml"
    unseen_config.write_text("name: unseen\ntext_column: text\nlabel_column: label\n")
    expect_user_error(
        run_script, capsys, out, *TINY_LSTM, "--dataset", unseen_config, "--data_dir", unseen,
        match="'sarcastic' in the test split is not among the training labels",
    )  # fmt: skip
    broken = data_dir_with(tmp_path, "broken", {"train.jsonl": b'{"text": "a", "label": "positive"}\n{"text": \n'})
    expect_user_error(run_script, capsys, out, *TINY_LSTM, "--data_dir", broken, match="train.jsonl:2")
    latin1 = data_dir_with(tmp_path, "latin1", {"train.csv": b"text,label\ncaf\xe9,positive\n"})
    expect_user_error(run_script, capsys, out, *TINY_LSTM, "--data_dir", latin1, match="train.csv:2: not valid UTF-8")
    expect_user_error(
        run_script, capsys, out, "--model_type", "gru", "--finetune_strategy", "hybrid", match="pretrained transformer"
    )
    glove = tmp_path / "glove.txt"
    glove.write_text("good 0.1 0.2 0.3\n")
    expect_user_error(run_script, capsys, out, *TINY_LSTM, "--glove_path", glove, match="embedding_dim=3")
    expect_user_error(run_script, capsys, out, *TINY_LSTM, "--max_length", "0", match="--max_length must be positive")
    expect_user_error(
        run_script, capsys, out, *TINY_LSTM, "--adversarial_epsilon", "-1", match="--adversarial_epsilon must be 0"
    )
    expect_user_error(
        run_script, capsys, out, "--model_type", "attn_bilstm", "--config_overrides", "pooling=mean", match="pooling"
    )
    expect_user_error(
        run_script, capsys, out, *TINY_LSTM, "--optimizer", "sgd", "--optim", "adafactor", match="give one of them"
    )
    expect_user_error(
        run_script, capsys, out, *TINY_LSTM, "--data_dir", toy_data_dir, "--resume_from_checkpoint", "last",
        match="no complete checkpoint",
    )  # fmt: skip


def test_error_has_no_traceback_unless_debug(run_script, tmp_path):
    # As a user runs it: exit status 2 and one line, no traceback.
    result = run_cli(tmp_path, "--model_type", "nope", "--output_dir", tmp_path / "x")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: unknown model type 'nope'")
    # With --debug the error propagates, so Python prints its traceback (checked in-process: no second start-up).
    with pytest.raises(UserInputError, match="unknown model type 'nope'"):
        run_script("train", "--model_type", "nope", "--output_dir", tmp_path / "x", "--debug")


def test_empty_texts_are_dropped_and_counted(run_script, tmp_path, caplog):
    rows = toy_rows(60, 0)
    rows[3]["text"], rows[7]["text"] = "", "   "
    rows[9].pop("text")
    folder = data_dir_with(tmp_path, "holes", {"train.jsonl.gz": rows})
    with caplog.at_level("WARNING"):
        run_script(
            "train", *TINY_LSTM, "--data_dir", folder, "--output_dir", tmp_path / "o", "--num_train_epochs", "1"
        )
    assert "dropped 3 of 54 rows with an empty text" in caplog.text or "dropped 3 of" in caplog.text


def test_non_empty_output_dir_is_never_overwritten_silently(run_script, capsys, tmp_path, toy_data_dir):
    output_dir = tmp_path / "kept"
    output_dir.mkdir()
    (output_dir / "model.safetensors").write_text("a finished model")
    with pytest.raises(SystemExit):
        run_script("train", *TINY_LSTM, "--data_dir", toy_data_dir, "--output_dir", output_dir)
    assert "not empty" in capsys.readouterr().err
    assert (output_dir / "model.safetensors").read_text() == "a finished model"


def test_same_seed_same_metrics(run_script, tmp_path, toy_data_dir):
    results = []
    for name in ("first", "second"):
        run_script(
            "train", "--model_type", "attn_bilstm", "--config_overrides", TINY_RNN_OVERRIDES, "--data_dir",
            toy_data_dir, "--output_dir", tmp_path / name, "--num_train_epochs", "1", "--seed", "7",
        )  # fmt: skip
        results.append(json.loads((tmp_path / name / "all_results.json").read_text()))
    for key in ("eval_loss", "test_loss", "test_accuracy", "test_f1_macro"):
        assert results[0][key] == results[1][key], key


def test_resume_skips_a_checkpoint_killed_while_its_state_was_written(tmp_path):
    from modeling.run_folder import resolve_resume

    def checkpoint(name: str, state: str | None, files=("model.safetensors", "optimizer.pt", "scheduler.pt")):
        (tmp_path / name).mkdir()
        for file_name in files:
            (tmp_path / name / file_name).write_bytes(b"saved")
        if state is not None:
            (tmp_path / name / "trainer_state.json").write_text(state)

    for step, state in ((5, '{"global_step": 5}'), (10, ""), (15, '{"global_st')):  # 10 and 15: cut short
        checkpoint(f"checkpoint-{step}", state)
    checkpoint("checkpoint-20", None)  # killed before trainer_state.json
    # Killed while the Trainer deleted them file by file: the state is left, but not the weights or optimizer.
    checkpoint("checkpoint-25", '{"global_step": 25}', files=("optimizer.pt", "scheduler.pt"))
    checkpoint("checkpoint-30", '{"global_step": 30}', files=("model.safetensors", "scheduler.pt"))
    checkpoint("checkpoint-old", '{"global_step": 99}')  # a user's copy, not a Trainer checkpoint
    assert resolve_resume("last", str(tmp_path)) == str(tmp_path / "checkpoint-5")
    assert resolve_resume("last", str(tmp_path), with_optimizer=False) == str(tmp_path / "checkpoint-30")
    with pytest.raises(UserInputError, match="not a complete checkpoint"):
        resolve_resume(str(tmp_path / "checkpoint-10"), str(tmp_path))


def kill_when_checkpoint_appears(command, env, output_dir, step: int) -> None:
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (output_dir / f"checkpoint-{step}" / "trainer_state.json").exists():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("kind", ["attn_bilstm", pytest.param("bert", marks=pytest.mark.slow)])
def test_killed_run_resumes_to_the_same_result(run_script, tmp_path, toy_data_dir, tiny_transformer_dir, kind):
    model = (
        ["--model_type", "attn_bilstm", "--config_overrides", TINY_RNN_OVERRIDES]
        if kind == "attn_bilstm"
        else ["--model_type", "bert", "--model_name_or_path", tiny_transformer_dir("bert"), "--learning_rate", "1e-3"]
    )
    common = [
        *model, "--data_dir", toy_data_dir, "--num_train_epochs", "3", "--seed", "3", "--disable_tqdm", "true",
        "--eval_strategy", "steps", "--save_strategy", "steps", "--eval_steps", "5", "--save_steps", "5",
        "--per_device_train_batch_size", "16",
    ]  # fmt: skip
    run_script("train", *common, "--output_dir", tmp_path / "whole")

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    resumed = tmp_path / "resumed"
    command = [sys.executable, str(REPO / "scripts" / "train.py"), *map(str, common), "--output_dir", str(resumed)]
    kill_when_checkpoint_appears(command, env, resumed, step=20)
    assert not (resumed / "all_results.json").exists()
    result = run_cli(tmp_path, *common, "--output_dir", resumed, "--resume_from_checkpoint", "last")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming from" in result.stderr

    whole = json.loads((tmp_path / "whole" / "all_results.json").read_text())
    again = json.loads((resumed / "all_results.json").read_text())
    for key in ("test_loss", "test_accuracy", "test_f1_macro", "eval_loss"):
        assert again[key] == pytest.approx(whole[key], abs=1e-6), key


ODD_TEXTS = ["", "   \t\n", "😀🔥 日本語のテキスト مرحبا", "\x00\x07\x1b[31m control", "word " * 200_000]


def test_word_tokenizer_and_mapping_survive_any_text():
    from datasets import Dataset, DatasetDict

    tokenizer = train_word_tokenizer(["a normal text", "another one"] + ODD_TEXTS, min_frequency=1)
    dataset = DatasetDict({"train": Dataset.from_dict({"text": ODD_TEXTS, "label": [0] * len(ODD_TEXTS)})})
    tokenized = tokenize_splits(dataset, tokenizer, max_length=load_data_config("tweet_sentiment").max_length)
    lengths = tokenized["train"]["length"]
    assert all(1 <= n <= 64 for n in lengths)


def test_weights_are_only_read_from_safetensors(tmp_path):
    import torch

    import modeling
    from modeling.errors import UserInputError
    from modeling.inference import load_model_folder

    model = modeling.LSTMForSequenceClassification(modeling.LSTMConfig(vocab_size=10, num_labels=2))
    model.save_pretrained(tmp_path)
    train_word_tokenizer(["a b c"], min_frequency=1).save_pretrained(tmp_path)
    assert load_model_folder(str(tmp_path), torch.device("cpu"))[0].config.model_type == "lstm"
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle: never to be loaded
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(UserInputError, match="safetensors"):
        load_model_folder(str(tmp_path), torch.device("cpu"))


@pytest.mark.slow
def test_kill_resume_loop_short(tmp_path):
    """A short run of tests/kill_resume_loop.py (make kill-resume runs ten rounds): two kills, two recoveries."""
    command = [sys.executable, str(REPO / "tests" / "kill_resume_loop.py"), "--rounds", "2", "--seed", "3",
               "--work_dir", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 of 2 rounds ended with the reference's test metrics" in result.stdout
