"""Shared test helpers: offline settings, tiny datasets, and running the scripts in-process."""

import gzip
import importlib.util
import json
import os
import random
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DISABLE_TQDM", "1")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MINILM = REPO.parent / "shared" / "models" / "minilm-l6-h384-uncased"


def tiny_overrides(model_type: str) -> str:
    """`--config_overrides` that make a recurrent model tiny enough to train in a second (its config's sizes)."""
    from modeling.registry import get_model_spec

    return ",".join(f"{key}={value}" for key, value in get_model_spec(model_type).config_class.tiny_settings.items())


TINY_RNN_OVERRIDES = tiny_overrides("attn_bilstm")


def load_script(name: str):
    """Import scripts/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_script(monkeypatch):
    """Run a script's `main()` in this process with the given command-line arguments."""

    def run(name: str, *args: str):
        module = load_script(name)
        monkeypatch.setattr(sys, "argv", [f"{name}.py", *map(str, args)])
        return module.main()

    return run


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def toy_rows(n: int, seed: int) -> list[dict]:
    """Three classes, each with its own words, so a model can learn them quickly."""
    rng = random.Random(seed)
    words = {
        "negative": ["bad", "awful", "terrible", "hate", "worst"],
        "neutral": ["table", "chair", "today", "report", "meeting"],
        "positive": ["good", "great", "love", "wonderful", "best"],
    }
    filler = ["the", "a", "and", "it", "was", "this", "really", "so"]
    rows = []
    for i in range(n):
        label = list(words)[i % 3]
        tokens = rng.choices(words[label], k=rng.randint(1, 3)) + rng.choices(filler, k=rng.randint(1, 8))
        rng.shuffle(tokens)
        rows.append({"text": " ".join(tokens), "label": label})
    return rows


TOPIC_WORDS = {
    "politics": ["vote", "senate", "election", "minister", "policy"],
    "sports": ["goal", "match", "team", "coach", "league"],
    "tech": ["software", "chip", "robot", "internet", "phone"],
}


def multi_label_rows(n: int, seed: int) -> list[dict]:
    """Texts about one or two of three topics (each with its own words); the label is the list of their names."""
    rng = random.Random(seed)
    filler = ["the", "a", "and", "it", "was", "this", "really", "so"]
    names = sorted(TOPIC_WORDS)
    rows = []
    for i in range(n):
        topics = [names[i % 3]] + ([names[(i + 1 + i // 3) % 3]] if i % 2 else [])
        topics = sorted(set(topics))
        tokens = [word for topic in topics for word in rng.choices(TOPIC_WORDS[topic], k=rng.randint(1, 2))]
        tokens += rng.choices(filler, k=rng.randint(1, 6))
        rng.shuffle(tokens)
        rows.append({"text": " ".join(tokens), "label": topics})
    return rows


def regression_rows(n: int, seed: int) -> list[dict]:
    """Texts whose score is the number of good words minus the number of bad ones (-3 to 3), as a float."""
    rng = random.Random(seed)
    good, bad = ["good", "great", "love", "wonderful", "best"], ["bad", "awful", "terrible", "hate", "worst"]
    filler = ["the", "a", "and", "it", "was", "this", "really", "so"]
    rows = []
    for _ in range(n):
        ups, downs = rng.randint(0, 3), rng.randint(0, 3)
        tokens = rng.choices(good, k=ups) + rng.choices(bad, k=downs) + rng.choices(filler, k=rng.randint(1, 5))
        rng.shuffle(tokens)
        rows.append({"text": " ".join(tokens), "label": float(ups - downs)})
    return rows


def write_problem_data(folder: Path, rows_of, problem_type: str, sizes=(150, 40, 40)) -> Path:
    """train/validation/test.jsonl.gz made by `rows_of(n, seed)` in `folder`, and a data config for them there."""
    folder.mkdir(parents=True, exist_ok=True)
    for (split, seed), n in zip((("train", 0), ("validation", 1), ("test", 2)), sizes):
        write_jsonl_gz(folder / f"{split}.jsonl.gz", rows_of(n, seed))
    config = folder / "config.yaml"
    config.write_text(f"name: toy_{problem_type}\nproblem_type: {problem_type}\nmax_length: 32\n")
    return config


@pytest.fixture(scope="session")
def multi_label_data(tmp_path_factory) -> Path:
    """A multi-label data config (three topics, lists of names) whose files lie beside it."""
    return write_problem_data(tmp_path_factory.mktemp("multi_label"), multi_label_rows, "multi_label_classification")


@pytest.fixture(scope="session")
def regression_data(tmp_path_factory) -> Path:
    """A regression data config (a float score per text) whose files lie beside it."""
    return write_problem_data(tmp_path_factory.mktemp("regression"), regression_rows, "regression")


@pytest.fixture(scope="session")
def toy_data_dir(tmp_path_factory) -> Path:
    """A folder with train/validation/test.jsonl.gz of a small, learnable three-class problem."""
    folder = tmp_path_factory.mktemp("toy_data")
    for split, n, seed in (("train", 240, 0), ("validation", 60, 1), ("test", 60, 2)):
        write_jsonl_gz(folder / f"{split}.jsonl.gz", toy_rows(n, seed))
    return folder


def build_bert_tokenizer(folder: Path) -> Path:
    """
    Save a small uncased WordPiece tokenizer (BERT's special tokens, the toy data's words, single characters) in
    `folder`: it splits and marks texts as bert-base-uncased's does, with no download.
    """
    import string

    from transformers import BertTokenizer

    words = sorted({word for row in toy_rows(300, 0) for word in row["text"].split()})
    pieces = list(string.ascii_lowercase + string.digits)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.punctuation, *pieces]
    tokens += [f"##{piece}" for piece in pieces] + words + [str(number) for number in range(1000)]
    tokens += ["flight", "late", "again", "movie", "film", "hello", "world", "text", "number"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=512).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def bert_tokenizer_dir(tmp_path_factory) -> Path:
    """A folder holding a small bert-style WordPiece tokenizer (see `build_bert_tokenizer`)."""
    return build_bert_tokenizer(tmp_path_factory.mktemp("tiny-bert-tokenizer"))


@pytest.fixture(scope="session")
def minilm() -> Path:
    """The pretrained MiniLM folder of ../shared, for tests marked slow; they skip without it."""
    if not MINILM.is_dir():
        pytest.skip("the shared MiniLM folder is not beside this checkout")
    return MINILM


@pytest.fixture(scope="session")
def tiny_transformer_dir(tmp_path_factory, bert_tokenizer_dir):
    """Make a tiny random BERT or DistilBERT checkpoint (4 layers, width 32) with a small bert-style tokenizer."""
    from transformers import AutoModel, AutoTokenizer, BertConfig, DistilBertConfig

    made = {}

    def make(kind: str = "bert", dropout: float = 0.1) -> Path:
        if (kind, dropout) not in made:
            tokenizer = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
            if kind == "bert":
                config = BertConfig(
                    vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                    intermediate_size=37, max_position_embeddings=128, hidden_dropout_prob=dropout,
                    attention_probs_dropout_prob=dropout,
                )  # fmt: skip
            else:
                config = DistilBertConfig(
                    vocab_size=tokenizer.vocab_size, dim=32, n_layers=4, n_heads=2, hidden_dim=37,
                    max_position_embeddings=128, dropout=dropout, attention_dropout=dropout,
                    seq_classif_dropout=dropout,
                )  # fmt: skip
            folder = tmp_path_factory.mktemp(f"tiny_{kind}")
            AutoModel.from_config(config).save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            made[kind, dropout] = folder
        return made[kind, dropout]

    return make
