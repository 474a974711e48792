"""scripts/search.py and modeling.search: search spaces and their errors, storage URLs, a search that resumes after its
process is killed, and two processes sharing one study."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import torch
from conftest import REPO, TINY_RNN_OVERRIDES

from modeling.arguments import parse_args
from modeling.errors import UserInputError
from modeling.registry import get_model_spec
from modeling.search import (
    best_flags,
    best_train_command,
    default_search_space,
    import_optuna,
    parse_parameter,
    requeue_interrupted_trials,
    resolve_search_space,
)

# Small enough that a trial of 3 epochs on the toy data takes a second or two.
TINY_SPACE = """
learning_rate: {low: 1e-3, high: 2e-2, log: true}
dropout: {low: 0.0, high: 0.5}
hidden_size: {choices: [4, 8]}
per_device_train_batch_size: {choices: [16, 32]}
label_smoothing_factor: {low: 0.0, high: 0.2}
"""


def search_arguments(output_dir, data_dir, space_file, *extra, n_trials: int = 4) -> list[str]:
    return [
        "--n_trials", str(n_trials), "--output_dir", str(output_dir), "--search_space", str(space_file),
        "--pruning_warmup_trials", "2", *extra, "--", "--model_type", "attn_bilstm", "--dataset", "tweet_sentiment",
        "--data_dir", str(data_dir), "--config_overrides", TINY_RNN_OVERRIDES, "--num_train_epochs", "3",
    ]  # fmt: skip


def start_search(arguments: list[str], log) -> subprocess.Popen:
    """The search in a process of its own, its output into the open file `log` (a pipe nobody reads would fill)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(REPO / "scripts" / "search.py"), *arguments]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def load_trials(storage, study_name: str) -> list:
    try:
        return optuna.load_study(study_name=study_name, storage=storage).get_trials()
    except KeyError:  # not created yet
        return []


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(TINY_SPACE)
    return path


def test_search_resumes_after_a_kill_and_writes_every_output(run_script, tmp_path, toy_data_dir, space_file, capsys):
    output_dir = tmp_path / "search"
    # Far more trials than it can finish before the kill, however slow or fast the machine is today.
    arguments = search_arguments(output_dir, toy_data_dir, space_file, n_trials=100)
    log_path = tmp_path / "killed.log"
    process = start_search(arguments, log_path.open("w"))
    storage = None
    # Kill the process in the middle of a trial, once at least one trial has finished.
    deadline = time.monotonic() + 300
    while True:
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, "no trial finished in time"
        if storage is None and (output_dir / "study.db").is_file():
            storage = optuna.storages.RDBStorage(f"sqlite:///{output_dir / 'study.db'}")  # opened once: it is slow
        trials = load_trials(storage, "search") if storage is not None else []
        finished = [t for t in trials if t.state.is_finished()]
        running = [t for t in trials if t.state.name == "RUNNING" and "worker" in t.user_attrs]
        if finished and running:
            break
        time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = load_trials(storage, "search")
    before = {t.number: (t.state.name, t.value) for t in killed if t.state.name in ("COMPLETE", "PRUNED")}
    cut_short = [t for t in killed if t.state.name == "RUNNING"]
    assert before and len(cut_short) == 1

    # The same search asked for two trials more than were finished: the killed trial's settings again, and one more.
    total = len(before) + 2
    run_script("search", *search_arguments(output_dir, toy_data_dir, space_file, "--train_best", n_trials=total))
    out = capsys.readouterr().out
    trials = load_trials(f"sqlite:///{output_dir / 'study.db'}", "search")
    # The finished trials were kept, not run again; the killed one failed and its settings ran again.
    assert {t.number: (t.state.name, t.value) for t in trials if t.number in before} == before
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials) == total
    states = {t.number: t.state.name for t in trials}
    assert states[cut_short[0].number] == "FAIL"
    retries = [t for t in trials if t.user_attrs.get("retry_of") == cut_short[0].number]
    assert len(retries) == 1 and retries[0].state.name in ("COMPLETE", "PRUNED")
    assert retries[0].params == cut_short[0].params
    assert f"trials {cut_short[0].number} stopped before their end and run again" in out
    # One progress line per trial this process ran.
    assert sum(line.startswith("trial ") for line in out.splitlines()) == total - len(before)

    with (output_dir / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["trial"]) for row in rows] == sorted(states)
    assert {row["state"] for row in rows} <= {"COMPLETE", "PRUNED", "FAIL"}
    assert {"learning_rate", "dropout", "hidden_size", "value", "duration_s"} <= set(rows[0])
    best = json.loads((output_dir / "best.json").read_text())
    completed = [t for t in trials if t.state.name == "COMPLETE"]
    assert best["best_value"] == max(t.value for t in completed)
    assert best["finished_trials"] == total and best["completed"] + best["pruned"] == total
    assert "--learning_rate" in best["flags"] and "--config_overrides" in best["flags"]
    for name in ("optimization_history.png", "parallel_coordinate.png", "slice.png"):
        assert (output_dir / name).stat().st_size > 0, name
    assert (output_dir / "param_importances.png").is_file() == (len(completed) >= 2)

    # --train_best: a train.py run with the best settings, whose card names the search.
    best_dir = output_dir / "best"
    assert "test_accuracy" in json.loads((best_dir / "all_results.json").read_text())
    training_args = json.loads((best_dir / "training_args.json").read_text())
    assert training_args["learning_rate"] == pytest.approx(best["params"]["learning_rate"])
    assert training_args["hyperparameter_search"]["best_trial"] == best["best_trial"]
    card = (best_dir / "README.md").read_text()
    assert f"hyperparameters chosen by a search of {total} trials (study `search`" in card
    config = json.loads((best_dir / "config.json").read_text())
    assert config["dropout"] == pytest.approx(best["params"]["dropout"])
    assert config["embedding_dim"] == 16  # the run's own --config_overrides kept beside the searched ones


@pytest.mark.slow  # two searches of six trials each
def test_two_processes_share_one_study(tmp_path, toy_data_dir, space_file):
    storage = tmp_path / "journal.log"
    processes = [
        start_search(
            search_arguments(
                tmp_path / f"worker{i}",
                toy_data_dir,
                space_file,
                "--storage",
                f"journal:{storage}",
                "--study_name",
                "shared",
                n_trials=6,
            ),  # fmt: skip
            (tmp_path / f"worker{i}.log").open("w"),
        )
        for i in range(2)
    ]
    for i, process in enumerate(processes):
        process.wait(timeout=600)
        assert process.returncode == 0, (tmp_path / f"worker{i}.log").read_text()[-3000:]
    trials = load_trials(
        optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(storage))), "shared"
    )
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    # Each stops once the study has 6; a trial the other was running then finishes too.
    assert 6 <= len(finished) <= 7 and len(finished) == len(trials)
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == 2, "both processes ran trials"
    assert len({json.dumps(t.params, sort_keys=True) for t in finished}) == len(finished)  # no trial ran twice
    for i in range(2):
        assert (tmp_path / f"worker{i}" / "best.json").is_file()


@pytest.mark.parametrize(
    "text, message",
    [
        ("learning_rate: [1, 2", "not a readable YAML or JSON file"),
        ("- learning_rate", "expected a mapping of setting names"),
        ("{}", "expected a mapping of setting names"),
        ("hidden_sise: {choices: [4, 8]}", "'hidden_sise' cannot be searched for attn_bilstm"),
        ("learning_rate: {low: 0.1, high: 0.01}", "low (0.1) must be below high (0.01)"),
        ("learning_rate: {low: 0, high: 0.01, log: true}", "a log scale needs low above 0"),
        ("learning_rate: {low: 1e-4}", "needs both low and high"),
        ("learning_rate: {low: 1e-4, high: 1e-2, scale: log}", "unknown keys ['scale']"),
        ("hidden_size: {choices: []}", "choices must be a non-empty list"),
        ("hidden_size: {low: 8.5, high: 64}", "hidden_size takes whole numbers"),
        ("dropout: {low: 0.1, high: 1.5}", "dropout must be in [0, 1)"),
        ("pooling: {choices: [attention, mean]}", "pooling must be one of"),
        ("per_device_train_batch_size: {choices: [16, 0.5]}", "takes whole numbers"),
        ("layerwise_lr_decay: {low: 0.5, high: 2}", "layerwise_lr_decay must be in (0, 1]"),
        ("lr_scheduler_type: {choices: [linear, wavy]}", "lr_scheduler_type takes choices from"),
    ],
)
def test_bad_search_space_files_are_refused(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    model_args = parse_args(argv=["--model_type", "attn_bilstm"])[0]
    with pytest.raises(UserInputError, match="--search_space") as error:
        resolve_search_space(model_args.spec, model_args, path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_search_spaces_of_the_families_resolve_and_print(run_script, tmp_path, capsys):
    for model_type in ("attn_bilstm", "lstm", "bert"):
        model_args = parse_args(argv=["--model_type", model_type])[0]
        space = resolve_search_space(model_args.spec, model_args)
        assert "learning_rate" in space and "per_device_train_batch_size" in space
    lstm = resolve_search_space(get_model_spec("lstm"), parse_args(argv=["--model_type", "lstm"])[0])
    assert {"dropout", "hidden_size", "embedding_dim", "num_layers", "word_dropout", "label_smoothing_factor"} <= set(
        lstm
    )
    assert lstm["learning_rate"].log and lstm["num_layers"].is_int
    bert = resolve_search_space(get_model_spec("bert"), parse_args(argv=["--model_type", "bert"])[0])
    assert {"warmup_steps", "weight_decay", "layerwise_lr_decay"} <= set(bert)
    # A strategy training less of the model searches larger learning rates.
    assert default_search_space(get_model_spec("bert"), "freeze")["learning_rate"]["high"] == 1e-2
    # Config settings are searched for the recurrent types only; so is the word-level vocabulary.
    bert_args = parse_args(argv=["--model_type", "bert"])[0]
    path = tmp_path / "bert.yaml"
    path.write_text("dropout: {low: 0.1, high: 0.3}")
    with pytest.raises(UserInputError, match="'dropout' cannot be searched for bert"):
        resolve_search_space(bert_args.spec, bert_args, path)
    path.write_text("vocab_size: {choices: [5000, 10000]}")
    with pytest.raises(UserInputError, match="vocab_size is searched for the word-level tokenizer only"):
        resolve_search_space(bert_args.spec, bert_args, path)

    run_script("search", "--print_search_space", "--", "--model_type", "gru")
    printed = capsys.readouterr().out
    assert "learning_rate:" in printed and "log: true" in printed and "choices:" in printed


def test_best_settings_become_train_flags():
    model_args = parse_args(
        argv=["--model_type", "attn_bilstm", "--config_overrides", "embedding_dim=16,pooling=attention"]
    )[0]
    space = {name: parse_parameter(name, spec, "test") for name, spec in default_search_space(model_args.spec).items()}
    params = {"learning_rate": 0.003, "per_device_train_batch_size": 32, "dropout": 0.25, "num_layers": 1}
    flags = best_flags(params, space, model_args)
    assert flags == [
        "--learning_rate", "0.003", "--per_device_train_batch_size", "32",
        "--config_overrides", "embedding_dim=16,pooling=attention,dropout=0.25,num_layers=1",
    ]  # fmt: skip
    command = best_train_command(["--model_type", "attn_bilstm", "--config_overrides", "embedding_dim=16"], flags, "o")
    assert command.count("--config_overrides") == 1 and command[-2:] == ["--output_dir", "o"]
    # The flags parse back into the same settings.
    model_args, _, training_args, _ = parse_args(argv=command)
    assert training_args.learning_rate == 0.003 and model_args.overrides["dropout"] == 0.25


@pytest.mark.parametrize(
    "url",
    ["not a url", "nosuchdb://user@host/db", "sqlite:////no/such/folder/study.db", "journal:/no/such/folder/x.log"],
)
def test_bad_storage_urls_are_one_line_errors(run_script, tmp_path, capsys, url):
    with pytest.raises(SystemExit) as exit_info:
        run_script("search", "--output_dir", tmp_path / "s", "--storage", url, "--", "--model_type", "lstm")
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: --storage {url}") and "\n" not in error


def test_bad_search_arguments_are_one_line_errors(run_script, tmp_path, capsys, space_file, multi_label_data):
    cases = [
        ([], "give train.py's arguments after --"),
        (["--", "--model_type", "lstm", "--output_dir", "x"], "--output_dir after -- has no use"),
        (["--n_trials", "0", "--", "--model_type", "lstm"], "--n_trials must be positive"),
        (["--output_dir", "", "--", "--model_type", "lstm"], "--output_dir is required"),
        (["--search_space", tmp_path / "missing.yaml", "--", "--model_type", "lstm"], "not a readable YAML"),
        (["--", "--model_type", "lstm", "--teacher_model_name_or_path", tmp_path], "a search does not distil"),
        (["--", "--model_type", "lstm", "--dataset", multi_label_data], "this data is multi_label_classification"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            run_script("search", "--output_dir", tmp_path / "s", *extra)
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("error: ") and message in error and "\n" not in error, error


def test_missing_optuna_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now fails as if it were not installed
    with pytest.raises(UserInputError, match=r'pip install -e "\.\[search\]"'):
        import_optuna()


def test_failed_trials_run_again_once():
    study = optuna.create_study(direction="maximize")
    distribution = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    for number, value in enumerate((1e-3, 2e-3)):
        state = optuna.trial.TrialState.FAIL if number == 0 else optuna.trial.TrialState.COMPLETE
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                params={"learning_rate": value},
                distributions={"learning_rate": distribution},
                value=None if number == 0 else 0.5,
            )
        )
    assert requeue_interrupted_trials(study) == [0]  # stopped by Ctrl-C or an error: queued again
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [(t.system_attrs["fixed_params"], t.user_attrs["retry_of"]) for t in waiting] == [
        ({"learning_rate": 1e-3}, 0)
    ]
    assert requeue_interrupted_trials(study) == []  # once only


def test_trials_build_their_models_as_train_py_and_read_glove_once(tmp_path, toy_data_dir, monkeypatch):
    import modeling.builders
    from modeling.search import TrialBuilder, load_search_data

    glove = tmp_path / "vectors.txt"
    glove.write_text("good " + " ".join(["0.5"] * 16) + "\n")
    model_args, data_args, training_args, _ = parse_args(
        argv=[
            "--model_type", "attn_bilstm", "--dataset", "tweet_sentiment", "--data_dir", str(toy_data_dir),
            "--config_overrides", TINY_RNN_OVERRIDES, "--glove_path", str(glove), "--tfidf_weighting",
            "--output_dir", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    reads = []
    read = modeling.builders.read_glove_vectors
    monkeypatch.setattr(modeling.builders, "read_glove_vectors", lambda *a: reads.append(a[0]) or read(*a))
    raw, max_length, truncation = load_search_data(data_args, training_args.seed)
    builder = TrialBuilder(model_args, data_args, training_args, {}, raw, None, max_length, truncation)
    first, second = builder.model_init(), builder.model_init()
    assert reads == [str(glove)]  # one read for both models
    good = builder.data().tokenizer.convert_tokens_to_ids("good")
    for model in (first, second):
        torch.testing.assert_close(model.get_input_embeddings().weight[good], torch.full((16,), 0.5))
        assert model.config.text_truncation == truncation and model.config.use_token_weights
    unknown = builder.data().tokenizer.convert_tokens_to_ids("the")  # not in the file: each model's own start
    assert not torch.equal(first.get_input_embeddings().weight[unknown], second.get_input_embeddings().weight[unknown])
