"""A run's output folder: the one list of what `scripts/train.py` writes there, clearing an earlier run, finding the
checkpoint to resume from and checking it against the current arguments, and removing checkpoints once a run has
finished.
"""

import json
import os
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .errors import UserInputError
from .files import TEMP_PREFIX
from .training.trainer import RUN_SETTINGS_FILE, SAVING_PREFIX

# The files other code reads back from a run folder.
RESULTS_FILE = "all_results.json"
STATE_FILE = "trainer_state.json"
TRAINING_ARGS_FILE = "training_args.json"
PREDICTIONS_FILE = "test_predictions.csv"
REPORT_FILE = "classification_report.txt"
CARD_FILE = "README.md"
PLOT_FILES = ("confusion_matrix.png", "per_class_f1.png", "training_curves.png")
CHECKPOINT_GLOB = f"{PREFIX_CHECKPOINT_DIR}-*"
# A LoRA run's adapter (peft's files and the tokenizer), beside the merged model at the folder's top.
ADAPTER_DIR = "adapter"

# A checkpoint folder is renamed to this before it is deleted, so that a kill during the deletion never leaves a
# folder named checkpoint-N that looks whole but lacks files.
REMOVING_PREFIX = ".removing-"
# The arguments a resumed run must share with the checkpoint's run: they decide the data, the vocabulary, the model
# and the batches. A resume may change others (e.g. more epochs, another logging interval).
RESUME_SETTINGS = (
    "model_type", "model_name_or_path", "tokenizer_name", "config_overrides", "vocab_size", "min_frequency",
    "clean_markup", "glove_path", "tfidf_weighting", "freeze_embeddings", "finetune_strategy", "unfreeze_top_k",
    "lora_r", "lora_alpha", "class_weights", "dataset", "data_dir", "max_train_samples", "max_eval_samples",
    "max_length", "truncation", "seed", "data_seed", "per_device_train_batch_size", "gradient_accumulation_steps",
    "text_column", "label_column", "teacher_model_name_or_path", "distillation_loss", "distillation_alpha",
    "distillation_temperature", "augment_copies", "augment_mask_probability", "augment_ngram_probability",
    "unlabeled_file",
)  # fmt: skip
_PATH_SETTINGS = (
    "model_name_or_path", "tokenizer_name", "glove_path", "dataset", "data_dir", "teacher_model_name_or_path",
    "unlabeled_file",
)  # fmt: skip

# Everything a run of train.py writes into --output_dir (README, "What a run leaves"). --overwrite_output_dir removes
# these first, so that nothing of the previous run outlives it: a LoRA adapter left at the top beside a new full model
# (as earlier versions saved it) would be loaded on top of it, and the Trainer merges new metrics into an old
# all_results.json. Other files stay. "merged" is the merged model earlier versions saved with --merge_lora.
RUN_OUTPUTS = (
    CHECKPOINT_GLOB, ADAPTER_DIR, "merged", "runs", "config.json", "generation_config.json", "*.safetensors",
    "*.safetensors.index.json", "pytorch_model*.bin", "adapter_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "added_tokens.json", "configuration_*.py",
    "modeling_*.py", "rnn_kernels.py", CARD_FILE, "*results.json", STATE_FILE, TRAINING_ARGS_FILE,
    "training_args.bin", "*_predictions.csv", REPORT_FILE, *PLOT_FILES, RUN_SETTINGS_FILE, f"{SAVING_PREFIX}*",
    f"{TEMP_PREFIX}*", f"{REMOVING_PREFIX}*",
)  # fmt: skip


def check_output_dir(output_dir: str | Path, overwrite: bool, resume: bool) -> None:
    """Refuse to write into a non-empty `output_dir` unless told to overwrite or resume; refuse a file there."""
    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"--output_dir {path} is a file; give a folder")
    existing = next((parent for parent in (path, *path.absolute().parents) if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserInputError(f"--output_dir {path}: {existing} is a file, so the folder cannot be made there")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise UserInputError(f"--output_dir {path}: {existing} is not writable; choose another --output_dir")
    if path.is_dir() and any(path.iterdir()) and not (overwrite or resume):
        raise UserInputError(
            f"output directory {path} is not empty; pass --overwrite_output_dir to replace its results, "
            "--resume_from_checkpoint last to continue its run, or choose another --output_dir"
        )


def clear_previous_run(output_dir: str | Path) -> list[str]:
    """Delete what an earlier run left in `output_dir` (`RUN_OUTPUTS`); return the names deleted."""
    folder = Path(output_dir)
    removed = sorted({path for pattern in RUN_OUTPUTS for path in folder.glob(pattern)})
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return [path.name for path in removed]


def holds_model(folder: str | Path) -> bool:
    """Whether `folder` holds a saved model (a config.json, or a LoRA adapter's adapter_config.json)."""
    path = Path(folder)
    return (path / "config.json").is_file() or (path / "adapter_config.json").is_file()


def trained_model_folder(model_name_or_path: str | None, output_dir: str | Path) -> Path:
    """
    The trained model an evaluation without training (`--do_eval`/`--do_predict` without `--do_train`) uses:
    `--model_name_or_path` when given, else the model of an earlier run in `--output_dir`.
    """
    folder = Path(model_name_or_path) if model_name_or_path is not None else Path(output_dir)
    if not holds_model(folder):
        where = f"--model_name_or_path {folder}" if model_name_or_path is not None else f"--output_dir {folder}"
        raise UserInputError(
            f"{where} holds no trained model; without --do_train, --do_eval and --do_predict use a finished run's "
            "folder: pass it as --model_name_or_path or --output_dir"
        )
    return folder


def checkpoints(output_dir: str | Path) -> dict[int, Path]:
    """The Trainer's checkpoint folders (checkpoint-<step>) in `output_dir`, by step."""
    prefix = f"{PREFIX_CHECKPOINT_DIR}-"
    return {
        int(step): folder
        for folder in Path(output_dir).glob(CHECKPOINT_GLOB)
        if folder.is_dir() and (step := folder.name.removeprefix(prefix)).isdigit()
    }


def remove_checkpoints(output_dir: str | Path) -> list[str]:
    """
    Delete the checkpoint folders of a finished run (the best model is already at the top level). Each is renamed
    first (one atomic step), so a kill midway never leaves a checkpoint-N that looks whole but lacks files.
    """
    removed = sorted(checkpoints(output_dir).values())
    for folder in removed:
        doomed = folder.with_name(f"{REMOVING_PREFIX}{folder.name}")
        os.replace(folder, doomed)
        shutil.rmtree(doomed)
    for leftover in Path(output_dir).glob(f"{REMOVING_PREFIX}*"):  # from a run killed while removing
        shutil.rmtree(leftover, ignore_errors=True)
    return [folder.name for folder in removed]


# A checkpoint's weights in one of the forms the Trainer saves.
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "pytorch_model.bin")


def is_complete_checkpoint(folder: str | Path, with_optimizer: bool = True) -> bool:
    """
    Whether `folder` holds a whole checkpoint. The Trainer writes trainer_state.json last, so a run killed while
    saving leaves it missing, or empty or cut short when the kill lands during that write. The Trainer deletes old
    checkpoints file by file, so a kill then can leave the state without the weights or the optimizer's state
    (expected unless `with_optimizer` is False, as with --save_only_model).
    """
    folder = Path(folder)
    try:
        json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return False
    if not any((folder / name).is_file() for name in _WEIGHTS):
        return False
    if with_optimizer:
        return (folder / "optimizer.pt").is_file() and (folder / "scheduler.pt").is_file()
    return True


def resolve_resume(value: str | None, output_dir: str | Path, with_optimizer: bool = True) -> str | None:
    """
    `--resume_from_checkpoint last` -> the newest complete checkpoint of output_dir; a path is checked.
    `with_optimizer`: whether checkpoints hold the optimizer's state (not with --save_only_model).
    """
    if value is None:
        return None
    if value.lower() in ("last", "true"):
        complete = {
            step: folder
            for step, folder in checkpoints(output_dir).items()
            if is_complete_checkpoint(folder, with_optimizer)
        }
        if not complete:
            raise UserInputError(
                f"no complete checkpoint in {output_dir} to resume from; start the run again without "
                "--resume_from_checkpoint (add --overwrite_output_dir)"
            )
        return str(complete[max(complete)])
    if not is_complete_checkpoint(Path(value), with_optimizer):
        raise UserInputError(
            f"{value} is not a complete checkpoint folder (no readable trainer_state.json, weights or optimizer state)"
        )
    return value


def run_settings(*arguments_objects: object) -> dict:
    """
    The `RESUME_SETTINGS` of this run (local paths made absolute, the config overrides as parsed), as saved beside
    every model in run_settings.json and compared by `check_resume`.
    """
    values = {}
    for name in RESUME_SETTINGS:
        for arguments in arguments_objects:
            if hasattr(arguments, name):
                values[name] = getattr(arguments, name)
                break
    values["config_overrides"] = (
        next((a.overrides for a in arguments_objects if hasattr(a, "overrides")), None) or None
    )
    for name in _PATH_SETTINGS:
        if values.get(name) is not None and Path(values[name]).exists():
            values[name] = str(Path(values[name]).resolve())
    return json.loads(json.dumps(values))  # as it reads back from the file


def check_resume(checkpoint: str | Path, settings: dict, config, vocabulary: dict[str, int] | None) -> None:
    """
    Refuse to resume from `checkpoint` when it was trained with other arguments (`settings`, see `run_settings`),
    another model type or labels (`config`, the model this run built) or another vocabulary. Reads only; called
    before anything is written into the run folder.
    """
    checkpoint = Path(checkpoint)
    fix = "resume with the same arguments, or start afresh with --overwrite_output_dir (or another --output_dir)"
    saved = _read_json_file(checkpoint / RUN_SETTINGS_FILE)
    for name, value in settings.items():
        if name in saved and saved[name] != value:
            raise UserInputError(
                f"cannot resume from {checkpoint}: it was trained with --{name} {_shown(saved[name])}, this run has "
                f"--{name} {_shown(value)}; {fix}"
            )
    saved_config = _read_json_file(checkpoint / "config.json")
    if saved_config:
        if saved_config.get("model_type") != config.model_type:
            raise UserInputError(
                f"cannot resume from {checkpoint}: it holds a {saved_config.get('model_type')} model, this run builds "
                f"{config.model_type}; {fix}"
            )
        id2label = saved_config.get("id2label") or {}
        saved_labels = [id2label.get(str(i)) for i in range(len(id2label))]
        labels = [config.id2label[i] for i in range(config.num_labels)]
        if saved_labels and saved_labels != labels:
            raise UserInputError(
                f"cannot resume from {checkpoint}: its labels {saved_labels} differ from this run's {labels}; {fix}"
            )
        if "vocab_size" in saved_config and saved_config["vocab_size"] != getattr(config, "vocab_size", None):
            raise UserInputError(
                f"cannot resume from {checkpoint}: its vocabulary has {saved_config['vocab_size']} entries, this "
                f"run's {config.vocab_size}; {fix}"
            )
    saved_vocabulary = (_read_json_file(checkpoint / "tokenizer.json").get("model") or {}).get("vocab")
    if vocabulary is not None and isinstance(saved_vocabulary, dict) and saved_vocabulary != vocabulary:
        raise UserInputError(f"cannot resume from {checkpoint}: its vocabulary differs from this run's; {fix}")


def _read_json_file(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _shown(value) -> str:
    return "(not given)" if value is None else str(value)
