"""The teacher side of distillation: load and check a teacher, build the transfer set, compute its logits once and
cache them on disk.

A teacher is a folder `scripts/train.py` wrote, or any sequence classifier (local folder or Hub id) whose label names
are the data's. It reads every text with its own tokenizer and its own cut (the tokenizer's `model_max_length`,
within the model's positions, and `config.text_truncation`), in eval mode under `torch.inference_mode`, in bf16 on a
GPU that supports it. Its logits are cached under a key made of the teacher's identity, its cut and precision, and
the texts, so a second student, or a resumed run, never runs it again.

The loss and the Trainer side live in `modeling.training.distillation`.
"""

import csv
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
from huggingface_hub import constants
from transformers import (
    AutoConfig,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import cached_file

from .data import encode_texts, tokenize_splits
from .data.augmentation import augment_texts
from .errors import UserInputError
from .inference import config_cut, load_model_folder
from .run_folder import PREDICTIONS_FILE, RESULTS_FILE
from .training.distillation import NO_LABEL, TEACHER_LOGITS

logger = logging.getLogger(__name__)

# Where teacher logits are cached unless --teacher_cache_dir says otherwise.
DEFAULT_CACHE_DIR = Path(constants.HF_HOME) / "text-classification" / "teacher_logits"
# Bumped whenever what a cached file holds changes, so that older files are never read as current.
CACHE_VERSION = 1
# Texts per `datasets.map` batch: sorted by length within it, so that the teacher's own batches pad little.
MAP_BATCH_SIZE = 4096
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "spm.model")


def load_teacher_model(folder: Path, device: torch.device) -> PreTrainedModel:
    """
    The teacher's weights, in eval mode on `device` (safetensors only; see `load_model_folder`). A LoRA run of
    train.py saves its merged model at the top of its folder, so it loads like any other.
    """
    model, _ = load_model_folder(str(folder), device)
    return model


@dataclass
class Teacher:
    """A checked teacher: its folder, config, tokenizer and cut. The model itself is loaded only when needed."""

    name: str  # as the user gave it
    folder: Path  # the local folder (a Hub id's cached snapshot)
    config: PretrainedConfig
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    batch_size: int = 64
    _model: PreTrainedModel | None = field(default=None, repr=False)

    @property
    def max_length(self) -> int:
        """The teacher's own cut: its tokenizer's model_max_length, never more positions than the model has."""
        return config_cut(self.config, self.tokenizer)[0]

    @property
    def truncation(self) -> str:
        return config_cut(self.config, self.tokenizer)[1]

    @property
    def precision(self) -> str:
        """bf16 on a GPU that supports it, else fp32: part of the cache key, since the logits differ."""
        cuda = self.device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return "bf16" if cuda else "fp32"

    @property
    def model(self) -> PreTrainedModel:
        if self._model is None:
            self._model = load_teacher_model(self.folder, self.device)
        return self._model

    def identity(self) -> dict:
        """What names these exact weights: the resolved folder, config.json, the weight files' sizes and times."""
        files = sorted(path for pattern in WEIGHT_PATTERNS for path in self.folder.glob(pattern))
        tokenizer_files = [self.folder / name for name in TOKENIZER_FILES if (self.folder / name).is_file()]
        return {
            "folder": str(self.folder),
            "config": _sha256_bytes((self.folder / "config.json").read_bytes()),
            "weights": [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files],
            "tokenizer": [[path.name, _sha256_bytes(path.read_bytes())] for path in tokenizer_files],
        }


def load_teacher(name: str, label_names: Sequence[str], device: torch.device, batch_size: int = 64) -> Teacher:
    """
    Resolve and check the teacher `name` (a local folder, or a Hub id in the local cache or reachable): it must hold
    a sequence classifier for single-label classification whose label names are `label_names`, in that order.
    Only its config and tokenizer are read here.
    """
    folder = _resolve_folder(name)
    if not (folder / "config.json").is_file():
        raise UserInputError(
            f"teacher {name} holds no config.json; pass the --output_dir of a train.py run or a sequence classifier"
        )
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise UserInputError(f"teacher {name}: its config.json does not load ({_first_line(error)})") from None
    problem_type = getattr(config, "problem_type", None)
    if problem_type not in (None, "single_label_classification"):
        raise UserInputError(
            f"teacher {name} is a {problem_type} model; distillation supports single-label classification only"
        )
    teacher_labels = [str(config.id2label.get(i, i)) for i in range(config.num_labels)]
    if teacher_labels != list(label_names):
        raise UserInputError(
            f"teacher {name} has labels {teacher_labels} but the data has {list(label_names)}; the teacher must be a "
            "classifier fine-tuned on these labels, in this order"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise UserInputError(f"teacher {name} holds no loadable tokenizer ({_first_line(error)})") from None
    return Teacher(name=name, folder=folder, config=config, tokenizer=tokenizer, device=device, batch_size=batch_size)


def _resolve_folder(name: str) -> Path:
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserInputError(f"teacher {name} is a file; pass a model folder or a Hub model id")
        return path.resolve()
    try:  # a Hub id: its snapshot folder in the local cache (downloaded first where the Hub is reachable)
        return Path(cached_file(name, "config.json")).parent.resolve()
    except (OSError, ValueError) as error:
        raise UserInputError(
            f"teacher {name} is neither a folder nor a Hub model available here ({_first_line(error)})"
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def texts_fingerprint(texts: Sequence[str]) -> str:
    """A hash of the texts and their order."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def cache_key(teacher: Teacher, texts: Sequence[str]) -> str:
    """The cache file name (without extension) of `teacher`'s logits for `texts`."""
    key = {
        "version": CACHE_VERSION,
        "teacher": teacher.identity(),
        "max_length": teacher.max_length,
        "truncation": teacher.truncation,
        "precision": teacher.precision,
        "texts": texts_fingerprint(texts),
        "count": len(texts),
    }
    return _sha256_bytes(json.dumps(key, sort_keys=True).encode("utf-8"))[:32]


def compute_teacher_logits(teacher: Teacher, texts: Sequence[str]) -> np.ndarray:
    """
    The teacher's logits for `texts`, (len(texts), num_labels) float32, each text run once: `datasets.map` in large
    batches, each sorted by length and run in `teacher.batch_size` pieces (little padding), under
    `torch.inference_mode`, in bf16 autocast on a GPU that supports it.
    """
    model, tokenizer = teacher.model, teacher.tokenizer
    max_length, truncation, device = teacher.max_length, teacher.truncation, teacher.device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if teacher.precision == "bf16" else nullcontext()
    fallback = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else tokenizer.pad_token_id

    def forward(batch: dict) -> dict:
        encoded = encode_texts(tokenizer, batch["text"], max_length, truncation)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
        logits = np.zeros((len(lengths), model.config.num_labels), dtype=np.float32)
        for start in range(0, len(order), teacher.batch_size):
            rows = order[start : start + teacher.batch_size]
            features = []
            for i in rows:
                feature = {key: values[i] for key, values in encoded.items()}
                if not feature["input_ids"]:  # a text the tokenizer drops whole still gets one token
                    feature = {"input_ids": [fallback], "attention_mask": [1]}
                features.append(feature)
            inputs = tokenizer.pad(features, return_tensors="pt").to(device)
            with torch.inference_mode(), autocast:
                logits[rows] = model(**inputs).logits.float().cpu().numpy()
        return {"logits": logits}

    dataset = datasets.Dataset.from_dict({"text": list(texts)})
    result = dataset.map(
        forward,
        batched=True,
        batch_size=MAP_BATCH_SIZE,
        remove_columns=["text"],
        # A fingerprint of its own: datasets would otherwise hash the teacher's weights to name the result.
        new_fingerprint=f"teacher-logits-{texts_fingerprint(texts)[:16]}",
        desc="Teacher logits",
    )
    return np.asarray(result.with_format("numpy")["logits"], dtype=np.float32).reshape(len(texts), -1)


def teacher_logits(teacher: Teacher, texts: Sequence[str], cache_dir: str | Path | None = None) -> np.ndarray:
    """
    The teacher's logits for `texts`, read from `cache_dir` (default `DEFAULT_CACHE_DIR`) when an earlier run
    computed them, else computed once per distinct text and cached there. The file is written whole or not at all.
    """
    folder = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    path = folder / f"{cache_key(teacher, texts)}.npy"
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            cached = None
        if cached is not None and cached.shape == (len(texts), teacher.config.num_labels):
            logger.info("teacher logits of %d texts read from %s", len(texts), path)
            return cached
        logger.warning("teacher logits in %s are unreadable or of another shape; computing them again", path)
    distinct = list(dict.fromkeys(texts))
    logger.info("teacher %s: computing logits of %d distinct texts (of %d)", teacher.name, len(distinct), len(texts))
    computed = compute_teacher_logits(teacher, distinct)
    position = {text: i for i, text in enumerate(distinct)}
    logits = computed[[position[text] for text in texts]] if texts else computed.reshape(0, computed.shape[-1])
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
    np.save(partial, logits)
    os.replace(partial, path)
    logger.info("teacher logits cached in %s", path)
    return logits


def read_unlabeled_texts(path: str | Path) -> list[str]:
    """
    The texts of an unlabeled file: one text a line (any extension but those below), or the `text` column of a
    .jsonl / .jsonl.gz / .json / .csv file. Blank texts are dropped.
    """
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"--unlabeled_file {file} does not exist")
    name = file.name.lower()
    try:
        if name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
            table = datasets.Dataset.from_json(str(file))
        elif name.endswith((".csv", ".csv.gz")):
            table = datasets.Dataset.from_csv(str(file))
        else:
            table = datasets.Dataset.from_text(str(file))
    except Exception as error:  # the readers raise many kinds of errors for a malformed file
        raise UserInputError(f"--unlabeled_file {file} could not be read ({_first_line(error)})") from None
    if "text" not in table.column_names:
        raise UserInputError(f"--unlabeled_file {file} has no `text` column (its columns: {table.column_names})")
    texts = [text for text in table["text"] if isinstance(text, str) and text.strip()]
    if not texts:
        raise UserInputError(f"--unlabeled_file {file} holds no texts")
    return texts


def build_transfer_set(
    train: datasets.Dataset,
    copies: int,
    seed: int,
    mask_probability: float,
    ngram_probability: float,
    unlabeled_texts: Sequence[str] = (),
) -> datasets.Dataset:
    """
    The training texts with their labels, then `copies` augmented copies of each (see `augment_texts`), then
    `unlabeled_texts`; the copies and the unlabeled texts carry no gold label (`NO_LABEL`). Deterministic.
    """
    texts = list(train["text"])
    augmented = augment_texts(texts, copies, seed, mask_probability, ngram_probability)
    extra = augmented + list(unlabeled_texts)
    return datasets.Dataset.from_dict(
        {"text": texts + extra, "label": list(train["label"]) + [NO_LABEL] * len(extra)},
        features=datasets.Features({"text": datasets.Value("string"), "label": train.features["label"]}),
    )


def recorded_test_accuracy(teacher: Teacher, test: datasets.Dataset) -> float | None:
    """
    The test accuracy a train.py teacher folder recorded, where its test predictions are of these very texts and
    labels (same data, same split); else None.
    """
    results, predictions = teacher.folder / RESULTS_FILE, teacher.folder / PREDICTIONS_FILE
    try:
        accuracy = json.loads(results.read_text(encoding="utf-8")).get("test_accuracy")
        with predictions.open(newline="", encoding="utf-8") as handle:
            rows = [(row["text"], row["label"]) for row in csv.DictReader(handle)]
    except (OSError, ValueError, KeyError):
        return None
    names = test.features["label"].names
    if not isinstance(accuracy, (int, float)) or rows != list(zip(test["text"], (names[i] for i in test["label"]))):
        return None
    return float(accuracy)


@dataclass
class DistillationPlan:
    """A run's distillation: the checked teacher, the transfer set with its teacher logits, and what to record."""

    teacher: Teacher
    transfer_set: datasets.Dataset  # text, label (NO_LABEL where none), teacher_logits
    teacher_test_accuracy: float
    records: dict

    def tokenize(self, tokenizer: PreTrainedTokenizerBase, max_length: int, truncation: str) -> datasets.Dataset:
        """The transfer set tokenised for the student, as `tokenize_splits` does the splits."""
        splits = datasets.DatasetDict(train=self.transfer_set)
        return tokenize_splits(splits, tokenizer, max_length, truncation)["train"]

    def trainer_kwargs(self) -> dict:
        """The `DistillationTrainer` keyword arguments of the loss."""
        keys = ("distillation_loss", "distillation_alpha", "distillation_temperature")
        return {key: self.records[key] for key in keys}


def prepare_distillation(
    args,
    raw: datasets.DatasetDict,
    seed: int,
    device: torch.device,
) -> DistillationPlan:
    """
    Everything a distillation run needs before training, from its `DistillationArguments` and the loaded splits:
    the teacher (checked against the labels of `raw["train"]`), the transfer set and its teacher logits (cached),
    and the teacher's test accuracy (recorded by its own run on these test texts, else computed from cached logits).
    """
    label_names = raw["train"].features["label"].names
    teacher = load_teacher(args.teacher_model_name_or_path, label_names, device, args.teacher_batch_size)
    unlabeled = read_unlabeled_texts(args.unlabeled_file) if args.unlabeled_file else []
    transfer = build_transfer_set(
        raw["train"],
        args.augment_copies,
        seed,
        args.augment_mask_probability,
        args.augment_ngram_probability,
        unlabeled,
    )
    logits = teacher_logits(teacher, transfer["text"], args.teacher_cache_dir)
    transfer = transfer.add_column(TEACHER_LOGITS, list(logits))
    accuracy = recorded_test_accuracy(teacher, raw["test"])
    source = "recorded by its run"
    if accuracy is None:
        test_logits = teacher_logits(teacher, raw["test"]["text"], args.teacher_cache_dir)
        accuracy = float((test_logits.argmax(-1) == np.asarray(raw["test"]["label"])).mean())
        source = "computed on this test split"
    logger.info(
        "distilling from %s (test accuracy %.4f, %s): %d texts in the transfer set (%d labelled, %d augmented, "
        "%d unlabeled)",
        teacher.name, accuracy, source, len(transfer), len(raw["train"]),
        len(raw["train"]) * args.augment_copies, len(unlabeled),
    )  # fmt: skip
    name = str(teacher.folder) if Path(args.teacher_model_name_or_path).expanduser().exists() else teacher.name
    records = {
        "teacher_model_name_or_path": name,
        "teacher_test_accuracy": accuracy,
        "distillation_loss": args.distillation_loss,
        "distillation_alpha": args.distillation_alpha,
        "distillation_temperature": args.distillation_temperature,
        "augment_copies": args.augment_copies,
        "augment_mask_probability": args.augment_mask_probability,
        "augment_ngram_probability": args.augment_ngram_probability,
        "unlabeled_file": str(Path(args.unlabeled_file).resolve()) if args.unlabeled_file else None,
        "transfer_set_size": len(transfer),
    }
    return DistillationPlan(teacher, transfer, accuracy, records)
