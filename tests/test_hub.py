"""Model cards and Hub uploads of folders trained by scripts/train.py: every model type, up to the network boundary."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
import torch
from conftest import REPO, load_script, tiny_overrides
from huggingface_hub import HfApi, ModelCard, constants
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import RepoUrl
from huggingface_hub.utils import filter_repo_objects, httpx
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

import modeling  # noqa: F401  (registers the recurrent architectures for the in-process loads)
from modeling.data import load_data_config
from modeling.errors import UserInputError
from modeling.hub import push_to_hub
from modeling.registry import MODEL_SPECS
from modeling.reporting.model_card import METRICS, SPLITS, dataset_card_arguments, write_model_card

RNN_TYPES = [name for name, spec in MODEL_SPECS.items() if not spec.is_pretrained]
TRANSFORMER_TYPES = [name for name, spec in MODEL_SPECS.items() if spec.is_pretrained]
LABELS = ["negative", "neutral", "positive"]
DATASET = {
    "dataset_name": "toy_sentiment",
    "dataset_description": "Short synthetic sentences, one word list per class.",
    "dataset_license": "mit",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, toy_data_dir, tiny_transformer_dir):
    """`trained(model_type)`: a folder scripts/train.py trained (1 epoch, tiny, toy data), with its card; cached."""
    folders = {}

    def train(model_type: str) -> Path:
        if model_type not in folders:
            root = tmp_path_factory.mktemp(model_type)
            if model_type in RNN_TYPES:
                model_args = ["--config_overrides", tiny_overrides(model_type)]
            else:
                model_args = ["--model_name_or_path", tiny_transformer_dir(model_type)]
            output_dir = root / "run"
            # A data config of the toy data, so that the card train.py writes describes it.
            data_config = root / "toy_sentiment.yaml"
            data_config.write_text(
                f"description: {DATASET['dataset_description']}\nlicense: {DATASET['dataset_license']}\n"
                f"label_names: {LABELS}\nmax_length: 64\n"
            )
            argv = [
                "train.py", "--model_type", model_type, *model_args, "--dataset", data_config,
                "--data_dir", toy_data_dir, "--output_dir", output_dir, "--num_train_epochs", "1",
                "--per_device_train_batch_size", "32", "--seed", "0", "--disable_tqdm", "true",
            ]  # fmt: skip
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(sys, "argv", [str(arg) for arg in argv])
                load_script("train").main()
            folders[model_type] = output_dir
        return folders[model_type]

    return train


def metric_key(result) -> tuple[str, str]:
    return result.dataset_split, result.metric_name


# --- the card -------------------------------------------------------------------------------------------------


def test_card_metadata_round_trips_and_holds_the_results(trained):
    folder = trained("gru")
    results = json.loads((folder / "all_results.json").read_text())
    data = ModelCard.load(folder / "README.md").data

    assert data.library_name == "transformers"
    assert data.pipeline_tag == "text-classification"
    assert data.license == "mit"  # the dataset's, as none was given
    assert data.datasets == ["toy_sentiment"]
    assert data.base_model is None  # trained from scratch
    assert {"gru", "text-classification", "custom_code"} <= set(data.tags)
    assert {"accuracy", "f1", "precision", "recall"} <= set(data.metrics)

    found = {metric_key(result): result for result in data.eval_results}
    expected = {
        (split, name): results[f"{prefix}_{metric}"]
        for prefix, split in SPLITS.items()
        for metric, (_, name, _) in METRICS.items()
        if f"{prefix}_{metric}" in results
    }
    for key in ("test_accuracy", "test_f1_macro", "test_precision_macro", "test_recall_macro", "test_f1_weighted"):
        assert key in results, key
    assert len(expected) >= 12 and set(found) == set(expected)
    for key, value in expected.items():
        assert found[key].metric_value == value, key
        assert found[key].task_type == "text-classification"
        assert found[key].dataset_name == "toy_sentiment"
    assert found["test", "F1 (macro)"].metric_args == {"average": "macro"}

    text = (folder / "README.md").read_text()
    for label in LABELS:
        assert f"`{label}`" in text
    assert "trust_remote_code=True" in text and 'pipeline("text-classification"' in text
    assert "Short synthetic sentences" in text
    trainable = f"{results['trainable_params']:,} trainable"
    assert trainable in text
    for image in ("confusion_matrix.png", "training_curves.png"):
        assert (f"]({image})" in text) == (folder / image).is_file()


def test_rebuilding_the_card_keeps_what_only_the_first_call_knew(trained, tmp_path):
    folder = tmp_path / "moved"
    shutil.copytree(trained("lstm"), folder)
    # The run's data config is gone (a folder moved to another machine): only the card's metadata remains.
    arguments = json.loads((folder / "training_args.json").read_text())
    (folder / "training_args.json").write_text(json.dumps({**arguments, "dataset": str(tmp_path / "gone.yaml")}))
    card = write_model_card(folder, repo_id="someone/tiny-lstm")
    data = ModelCard.load(folder / "README.md").data
    assert card.data.model_name == data.model_name == "tiny-lstm"
    assert data.datasets == ["toy_sentiment"] and data.license == "mit"
    assert {result.dataset_name for result in data.eval_results} == {"toy_sentiment"}
    assert 'model_id = "someone/tiny-lstm"' in card.text
    assert "Short synthetic sentences" not in card.text  # a description is not metadata: it is not kept

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no trained model"):
        write_model_card(tmp_path / "empty")


def test_card_of_a_fine_tuned_transformer(trained):
    folder = trained("bert")
    data = ModelCard.load(folder / "README.md").data
    assert data.base_model is None  # a local checkpoint is no Hub id
    assert "custom_code" not in data.tags and "trust_remote_code" not in (folder / "README.md").read_text()

    write_model_card(folder, base_model="google-bert/bert-base-uncased", license="apache-2.0")
    data = ModelCard.load(folder / "README.md").data
    assert data.base_model == "google-bert/bert-base-uncased" and data.license == "apache-2.0"
    assert "fine-tuned from [google-bert/bert-base-uncased]" in (folder / "README.md").read_text()


def test_card_lists_the_hyperparameters_of_training_args_json(trained, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(trained("distilbert"), folder, ignore=shutil.ignore_patterns("checkpoint-*"))
    args = json.loads((folder / "training_args.json").read_text())  # saved by train.py, tokens masked
    text = write_model_card(folder).text
    assert f"- learning rate: {args['learning_rate']}\n" in text and "peak learning rate" not in text
    assert f"- per device train batch size: {args['per_device_train_batch_size']}\n" in text
    assert f"- seed: {args['seed']}\n" in text  # seed 0 in these runs: a zero is still shown
    assert f"- weight decay: {args['weight_decay']}\n" in text
    (folder / "training_args.json").unlink()
    assert "- peak learning rate: " in write_model_card(folder).text  # the fallback: read from the log


# --- trained folders ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", RNN_TYPES + TRANSFORMER_TYPES)
def test_trained_folder_has_card_weights_tokenizer_and_code(trained, model_type):
    folder = trained(model_type)
    for name in ("README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == model_type
    if model_type in RNN_TYPES:
        auto_map = config["auto_map"]
        assert set(auto_map) == {"AutoConfig", "AutoModel", "AutoModelForSequenceClassification"}
        for reference in auto_map.values():
            assert (folder / f"{reference.split('.')[0]}.py").is_file(), reference
        assert (folder / "modeling_rnn_utils.py").is_file() and (folder / "configuration_rnn_utils.py").is_file()
    else:
        assert "auto_map" not in config and not list(folder.glob("*.py"))


@pytest.mark.parametrize("model_type", ["attn_bilstm", "distilbert"])
def test_pipeline_on_a_trained_folder(trained, model_type):
    folder = trained(model_type)
    classifier = pipeline("text-classification", model=str(folder), device="cpu")
    (scores,) = classifier(["good great love it"], top_k=None)
    assert sorted(score["label"] for score in scores) == LABELS
    assert sum(score["score"] for score in scores) == pytest.approx(1.0, abs=1e-5)


# Runs the card's usage snippet where this package cannot be imported, then reports what the snippet built.
RUN_CARD_SNIPPET_WITHOUT_PACKAGE = textwrap.dedent(
    """
    import importlib.util, json, sys
    repo, snippet, text = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.path = [p for p in sys.path if p not in ("", repo)]
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    assert importlib.util.find_spec("modeling") is None, "the package is still importable"
    exec(snippet)
    with torch.no_grad():
        logits = model(**tokenizer([text], return_tensors="pt")).logits
    print(json.dumps({
        "module": type(model).__module__,
        "logits": logits.tolist(),
        "scores": {s["label"]: s["score"] for s in classifier([text], top_k=None)[0]},
    }))
    """
)


def card_snippet(folder: Path) -> str:
    text = (folder / "README.md").read_text()
    usage = text[text.index("## How to use") :]
    return usage[usage.index("```python\n") + len("```python\n") : usage.index("\n```", usage.index("```python"))]


def test_card_snippet_runs_a_trained_folder_without_this_package(trained, tmp_path):
    folder, text = trained("cnn_lstm"), "good great awful table"
    snippet = card_snippet(folder)
    assert "trust_remote_code=True" in snippet and 'pipeline("text-classification"' in snippet
    result = subprocess.run(
        [sys.executable, "-c", RUN_CARD_SNIPPET_WITHOUT_PACKAGE, str(REPO), snippet, text],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,  # a trust_remote_code prompt would fail instead of waiting
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Do you wish to run the custom code" not in result.stdout + result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["module"].startswith("transformers_modules.")

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        logits = model(**tokenizer([text], return_tensors="pt")).logits
    torch.testing.assert_close(torch.tensor(loaded["logits"]), logits, atol=1e-5, rtol=1e-5)
    probabilities = logits.softmax(-1)[0]
    for i, label in model.config.id2label.items():
        assert loaded["scores"][label] == pytest.approx(probabilities[i].item(), abs=1e-5)


# --- the upload -----------------------------------------------------------------------------------------------


@pytest.fixture
def fake_hub(monkeypatch):
    """Stand in for the two Hub calls; record what they receive and which files the upload would send."""
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"] = {"repo_id": repo_id, **kwargs}
        name = repo_id if "/" in repo_id else f"someone/{repo_id}"  # the Hub puts a bare name under the user
        return RepoUrl(f"https://huggingface.co/{name}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        folder = Path(folder_path)
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        sent = list(filter_repo_objects(files, allow_patterns=kwargs.get("allow_patterns"),
                                        ignore_patterns=kwargs.get("ignore_patterns")))  # fmt: skip
        calls["upload_folder"] = {"repo_id": repo_id, "folder_path": folder, "files": files, "sent": sent}
        calls["card"] = ModelCard.load(folder / "README.md") if (folder / "README.md").is_file() else None

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_push_uploads_the_folder_with_its_card_and_no_checkpoint(trained, fake_hub, tmp_path):
    folder = tmp_path / "model"
    # A copy, so the card this test writes leaves the shared folder alone; with a checkpoint folder, as a run
    # given --keep_checkpoints leaves it.
    shutil.copytree(trained("auto_lstm"), folder)
    (folder / "README.md").unlink()
    (folder / "checkpoint-8").mkdir()
    (folder / "checkpoint-8" / "optimizer.pt").write_bytes(b"state")
    assert list(folder.glob("checkpoint-*/*")) and (folder / "training_args.bin").is_file()

    url = push_to_hub(folder, "tiny-auto-lstm", private=True)

    assert url == "https://huggingface.co/someone/tiny-auto-lstm"
    assert fake_hub["create_repo"]["repo_id"] == "tiny-auto-lstm"
    assert fake_hub["create_repo"]["private"] is True and fake_hub["create_repo"]["exist_ok"] is True
    upload = fake_hub["upload_folder"]
    # The folder had no card: the upload went from a staging folder of links holding a new one, and the folder got
    # that card only once the upload had succeeded.
    assert upload["repo_id"] == "someone/tiny-auto-lstm" and upload["folder_path"] != folder
    assert (folder / "README.md").read_text() == str(fake_hub["card"])
    assert not [name for name in upload["sent"] if name.startswith("checkpoint-") or name == "training_args.bin"]
    for name in ("README.md", "config.json", "model.safetensors", "tokenizer.json", "modeling_auto_lstm.py"):
        assert name in upload["sent"], name
    card = fake_hub["card"]
    assert card is not None and card.data.pipeline_tag == "text-classification" and card.data.eval_results


def test_push_script_regenerates_the_card_and_never_shows_the_token(
    trained, fake_hub, tmp_path, monkeypatch, run_script, capsys
):
    folder = tmp_path / "model"
    shutil.copytree(trained("gru"), folder)
    secret = "hf_" + "x" * 34
    monkeypatch.setenv("HF_TOKEN", secret)
    url = run_script("push", "--model", folder, "--hub_model_id", "someone/tiny-gru", "--private")

    assert url == "https://huggingface.co/someone/tiny-gru"
    assert fake_hub["create_repo"]["private"] is True
    card = fake_hub["card"]
    assert 'model_id = "someone/tiny-gru"' in card.text and card.data.model_name == "tiny-gru"
    assert card.data.datasets == ["toy_sentiment"]  # kept from the card train.py wrote
    output = capsys.readouterr()
    assert secret not in output.out + output.err
    for path in folder.rglob("*"):
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path

    previous = (folder / "README.md").read_text()
    run_script("push", "--model", folder, "--hub_model_id", "someone/other", "--no-regenerate_card")
    assert (folder / "README.md").read_text() == previous


def test_push_offline_says_everything_is_saved_locally(trained, monkeypatch):
    folder = trained("gru")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once at import; make sure it holds here
    with pytest.raises(UserInputError) as error:
        push_to_hub(folder, "someone/tiny-gru")
    message = str(error.value)
    assert "\n" not in message
    assert "upload" in message and "HF_HUB_OFFLINE" in message
    assert f"everything is saved locally in {folder}" in message
    assert f"scripts/push.py --model {folder} --hub_model_id someone/tiny-gru" in message


def _http_401(*args, **kwargs):
    request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
    raise HfHubHTTPError("401 Unauthorized", response=httpx.Response(401, request=request))


def _unreachable(*args, **kwargs):
    raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")


@pytest.mark.parametrize("failure, reason", [(_http_401, "hf auth login"), (_unreachable, "could not be reached")])
def test_push_turns_hub_errors_into_one_line(trained, failure, reason, run_script, capsys):
    folder = trained("gru")
    with mock.patch.object(HfApi, "create_repo", side_effect=failure):
        with pytest.raises(SystemExit) as exit_info:
            run_script("push", "--model", folder, "--hub_model_id", "someone/tiny-gru", "--no-regenerate_card")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: upload to the Hub failed") and len(err.splitlines()) == 1
    assert reason in err and "saved locally" in err


def test_push_refuses_a_bad_repo_id_or_a_folder_without_a_model(trained, tmp_path):
    with pytest.raises(UserInputError, match="not a valid repository id"):
        push_to_hub(trained("gru"), "someone/two/slashes")
    with pytest.raises(UserInputError, match="no trained model"):
        push_to_hub(tmp_path, "someone/empty")


# --- cards of folders that training_args.json describes (no training: only the files a card reads) ------------


def card_folder(folder: Path, model_type: str = "bert", training_args: dict | None = None) -> Path:
    """A run folder with config.json and all_results.json, and training_args.json when given (train.py's keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": model_type, "id2label": dict(enumerate(LABELS))}
    if model_type in RNN_TYPES:  # a recurrent model's config names the code saved beside it
        config["auto_map"] = {"AutoConfig": f"configuration_{model_type}.Config"}
    (folder / "config.json").write_text(json.dumps(config))
    results = {f"{prefix}_{metric}": 0.75 for prefix in SPLITS for metric in ("accuracy", "f1_macro")}
    (folder / "all_results.json").write_text(json.dumps(results))
    if training_args is not None:
        arguments = {"learning_rate": 5e-05, "optim": "adamw_torch", "seed": 0, **training_args}
        (folder / "training_args.json").write_text(json.dumps(arguments))
    return folder


def index_entries(card: ModelCard) -> set[tuple]:
    """(dataset type, dataset config, split) of each model-index entry."""
    return {(r.dataset_type, r.dataset_config, r.dataset_split) for r in card.data.eval_results or []}


BIAS_LINE = "inherits the biases of the pretrained checkpoint"


def test_rebuilt_card_names_the_local_checkpoint_that_training_args_json_records(tmp_path, fake_hub, run_script):
    checkpoint = tmp_path / "models" / "minilm-l6-h384-uncased"
    checkpoint.mkdir(parents=True)
    folder = card_folder(tmp_path / "run", training_args={"model_name_or_path": str(checkpoint)})
    write_model_card(folder, base_model=str(checkpoint), **DATASET)  # what train.py writes

    run_script("push", "--model", folder, "--hub_model_id", "someone/minilm")  # rebuilds it, without --base_model
    card = fake_hub["card"]
    assert card.data.base_model is None  # a local folder is no Hub id
    assert "fine-tuned from `minilm-l6-h384-uncased` on **toy_sentiment**" in card.text
    assert "- Pretrained checkpoint: `minilm-l6-h384-uncased`" in card.text and BIAS_LINE in card.text

    # The path as train.py got it, relative to where it ran, which need not exist from here.
    relative = "../shared/models/minilm-l6-h384-uncased"
    card_folder(folder, training_args={"model_name_or_path": relative})
    card = write_model_card(folder)
    assert card.data.base_model is None and "fine-tuned from `minilm-l6-h384-uncased`" in card.text

    card_folder(folder, training_args={"model_name_or_path": "google-bert/bert-base-uncased"})
    card = write_model_card(folder)
    assert card.data.base_model == "google-bert/bert-base-uncased"
    assert "fine-tuned from [google-bert/bert-base-uncased]" in card.text


def test_card_says_trained_from_scratch_only_of_a_recurrent_model(tmp_path):
    # Older folders record no checkpoint: a transformer still started from one.
    card = write_model_card(card_folder(tmp_path / "bert", "bert"))
    assert "fine-tuned from a pretrained checkpoint" in card.text and "from scratch" not in card.text
    assert BIAS_LINE in card.text and "Pretrained checkpoint:" not in card.text

    card = write_model_card(card_folder(tmp_path / "gru", "gru", training_args={"model_name_or_path": None}))
    assert "trained from scratch" in card.text and BIAS_LINE not in card.text and card.data.base_model is None


def test_card_of_a_recurrent_run_over_a_transformer_folder_keeps_no_checkpoint(tmp_path):
    folder = card_folder(tmp_path / "run", "bert", training_args={"model_name_or_path": "bert-base-uncased"})
    write_model_card(folder, **DATASET, license="apache-2.0")
    assert ModelCard.load(folder / "README.md").data.base_model == "bert-base-uncased"

    # A recurrent run in the same folder (--overwrite_output_dir), as train.py calls it: base_model=None.
    card_folder(folder, "attn_bilstm", training_args={"model_name_or_path": None})
    card = write_model_card(folder, base_model=None, **DATASET)
    assert card.data.base_model is None and "trained from scratch" in card.text and "bert-base" not in card.text
    assert card.data.license == "apache-2.0"  # still carried: the caller did not ask for a fresh card

    # Without training_args.json the recurrent model type alone says the old card's checkpoint is stale.
    write_model_card(card_folder(tmp_path / "old", "bert"), base_model="bert-base-uncased")
    card = write_model_card(card_folder(tmp_path / "old", "gru"))
    assert card.data.base_model is None and "trained from scratch" in card.text


def test_card_built_afresh_keeps_nothing_of_the_previous_card(tmp_path):
    folder = card_folder(tmp_path / "run")
    write_model_card(folder, base_model="bert-base-uncased", license="apache-2.0", language="en", **DATASET)

    card = write_model_card(folder, keep_previous=False)
    data = ModelCard.load(folder / "README.md").data
    assert data.base_model is None and data.license is None and data.language is None and data.datasets is None
    assert "bert-base-uncased" not in card.text and "toy_sentiment" not in card.text
    assert write_model_card(folder, keep_previous=True).data.datasets is None  # nothing left to keep


@pytest.mark.parametrize(
    "optimizer, shown, hidden",
    [
        ("adam", ["- optimizer: adam\n"], ["- optim:", "- momentum:"]),
        ("sgd", ["- optimizer: sgd\n"], ["- optim:", "- momentum:"]),
        ("sgd_momentum", ["- optimizer: sgd_momentum\n- momentum: 0.8\n"], ["- optim:"]),
        (None, ["- optim: adamw_torch\n"], ["- optimizer:", "- momentum:"]),  # the Trainer's --optim, as chosen
    ],
)
def test_card_names_the_optimizer_train_py_built(tmp_path, optimizer, shown, hidden):
    folder = card_folder(tmp_path / "run", "gru", training_args={"optimizer": optimizer, "momentum": 0.8})
    text = write_model_card(folder).text
    training = text[text.index("## Training procedure") : text.index("## Evaluation")]
    for line in shown:
        assert line in training
    for line in hidden:
        assert line not in training


def test_model_index_names_only_whole_hub_splits_as_the_hub_does(tmp_path, run_script, fake_hub):
    def index(dataset: str, **training_args) -> set[tuple]:
        folder = card_folder(tmp_path / dataset, training_args={"dataset": dataset, **training_args})
        return index_entries(write_model_card(folder, **dataset_card_arguments(load_data_config(dataset))))

    # imdb has no validation split on the Hub (it is made from train); SST-2's test split is GLUE's validation.
    assert index("imdb") == {("stanfordnlp/imdb", None, "test")}
    assert index("sst2") == {("stanfordnlp/sst2", None, "validation")}
    hub_splits = {("cardiffnlp/tweet_eval", "sentiment", split) for split in ("validation", "test")}
    assert index("tweet_eval") == hub_splits

    # Rebuilt by push.py without --dataset: the Hub configuration and splits still hold.
    run_script("push", "--model", tmp_path / "tweet_eval", "--hub_model_id", "someone/tweets")
    assert index_entries(fake_hub["card"]) == hub_splits
    assert "cardiffnlp/tweet_eval), configuration `sentiment`." in fake_hub["card"].text
    (tmp_path / "imdb" / "README.md").unlink()  # nothing but training_args.json tells the dataset now
    card = write_model_card(tmp_path / "imdb")
    assert index_entries(card) == {("stanfordnlp/imdb", None, "test")} and "**imdb**" in card.text

    # Local files or cut splits are not the Hub dataset's splits: no claim on them (the card still lists them).
    assert index("tweet_eval", max_test_samples=100) == {("cardiffnlp/tweet_eval", "sentiment", "validation")}
    assert index("tweet_eval", max_eval_samples=100, max_test_samples=None) == {
        ("cardiffnlp/tweet_eval", "sentiment", "test")
    }
    assert index("imdb", data_dir=str(tmp_path)) == set()
    card = ModelCard.load(tmp_path / "imdb" / "README.md")
    assert card.data.datasets == ["stanfordnlp/imdb"] and "| Accuracy | 0.7500 | 0.7500 |" in card.text

    # Data without a Hub id: every split, under its role's name, as before.
    folder = card_folder(tmp_path / "toy", training_args={"data_dir": str(tmp_path)})
    assert index_entries(write_model_card(folder, **DATASET)) == {
        ("toy_sentiment", None, "validation"),
        ("toy_sentiment", None, "test"),
    }


def test_the_card_train_py_writes_lists_the_settings_that_shaped_the_model(trained):
    text = (trained("attn_bilstm") / "README.md").read_text()
    assert "- label smoothing factor: 0.1" in text  # the recurrent default
    assert "word_dropout=0.1" in text and "pooling=attention_max" in text
    assert "- warmup: 5% of the training steps" in text and "warmup steps: 0.05" not in text
    assert "GloVe" not in text and "TF-IDF" not in text  # neither was used


def test_model_index_leaves_out_results_on_the_first_rows_of_a_split(tmp_path):
    # Local data: all_results.json says which results cover only the first rows (train.py's --max_*_samples).
    folder = card_folder(tmp_path / "toy", training_args={"data_dir": str(tmp_path), "max_eval_samples": 40})
    results = json.loads((folder / "all_results.json").read_text())
    marks = {"eval_samples": 40, "eval_subsample": True, "test_samples": 500, "test_subsample": False}
    (folder / "all_results.json").write_text(json.dumps({**results, **marks}))
    card = write_model_card(folder, **DATASET)
    assert index_entries(card) == {("toy_sentiment", None, "test")}
    assert "| Metric | Validation (first 40 rows) | Test |" in card.text
    assert "| Accuracy | 0.7500 | 0.7500 |" in card.text
    assert json.loads((folder / "all_results.json").read_text())["eval_accuracy"] == 0.75  # kept there

    # The marks, not the flags: a --max_eval_samples of 40 on a split of 40 rows or fewer cut nothing.
    marks = {"eval_samples": 60, "eval_subsample": False, "test_samples": 30, "test_subsample": True}
    (folder / "all_results.json").write_text(json.dumps({**results, **marks}))
    card = write_model_card(folder, **DATASET)
    assert index_entries(card) == {("toy_sentiment", None, "validation")}
    assert "The test results cover the first 30 texts of the test split." in card.text

    # A Hub dataset: the same rule on its own splits; a --max_test_samples above the split's size cut nothing.
    hub = card_folder(tmp_path / "tweets", training_args={"dataset": "tweet_eval", "max_test_samples": 10_000})
    (hub / "all_results.json").write_text(json.dumps({**results, "test_samples": 1200, "test_subsample": False}))
    card = write_model_card(hub, **dataset_card_arguments(load_data_config("tweet_eval")))
    assert index_entries(card) == {("cardiffnlp/tweet_eval", "sentiment", split) for split in ("validation", "test")}


def test_push_of_a_lora_run_sends_the_merged_model_and_the_adapter_beside_it(tmp_path, fake_hub, run_script):
    folder = card_folder(tmp_path / "lora", training_args={"model_name_or_path": "bert-base-uncased"})
    (folder / "model.safetensors").write_bytes(b"merged weights")
    (folder / "adapter").mkdir()
    adapter_config = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "base_model_name_or_path": "bert-base-uncased"}
    (folder / "adapter" / "adapter_config.json").write_text(json.dumps(adapter_config))
    (folder / "adapter" / "adapter_model.safetensors").write_bytes(b"adapter weights")

    run_script("push", "--model", folder, "--hub_model_id", "someone/lora")
    sent = set(fake_hub["upload_folder"]["sent"])
    adapter_files = ["adapter/adapter_config.json", "adapter/adapter_model.safetensors"]
    for name in ("config.json", "model.safetensors", *adapter_files):
        assert name in sent, name
    card = fake_hub["card"]
    # The repository's model is the merged one: transformers loads it; peft only for the adapter beside it.
    assert card.data.library_name == "transformers" and "peft" not in card.data.tags and "lora" in card.data.tags
    assert 'model_id = "someone/lora"' in card.text and 'folder = snapshot_download("someone/lora")' in card.text
    assert "- Fine-tuned with LoRA adapters (r=8, alpha=16), merged into the weights" in card.text
