"""A run's output folder: the one list of what `scripts/train.py` writes there, clearing an earlier run, finding the
checkpoint to resume from, and removing checkpoints once a run has finished.
"""

import json
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .errors import UserInputError

# The files other code reads back from a run folder.
RESULTS_FILE = "all_results.json"
STATE_FILE = "trainer_state.json"
TRAINING_ARGS_FILE = "training_args.json"
PREDICTIONS_FILE = "test_predictions.csv"
REPORT_FILE = "classification_report.txt"
CARD_FILE = "README.md"
PLOT_FILES = ("confusion_matrix.png", "per_class_f1.png", "training_curves.png")
CHECKPOINT_GLOB = f"{PREFIX_CHECKPOINT_DIR}-*"

# Everything a run of train.py writes into --output_dir (README, "What a run leaves"). --overwrite_output_dir removes
# these first, so that nothing of the previous run outlives it: a LoRA adapter left beside a new full model would be
# loaded on top of it, and the Trainer merges new metrics into an old all_results.json. Other files stay.
RUN_OUTPUTS = (
    CHECKPOINT_GLOB, "merged", "runs", "config.json", "generation_config.json", "*.safetensors",
    "*.safetensors.index.json", "pytorch_model*.bin", "adapter_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "added_tokens.json", "configuration_*.py",
    "modeling_*.py", "rnn_kernels.py", CARD_FILE, "*results.json", STATE_FILE, TRAINING_ARGS_FILE,
    "training_args.bin", "*_predictions.csv", REPORT_FILE, *PLOT_FILES,
)  # fmt: skip


def check_output_dir(output_dir: str | Path, overwrite: bool, resume: bool) -> None:
    """Refuse to write into a non-empty `output_dir` unless told to overwrite or resume; refuse a file there."""
    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"--output_dir {path} is a file; give a folder")
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
    """Delete the checkpoint folders of a finished run (the best model is already at the top level)."""
    removed = sorted(checkpoints(output_dir).values())
    for folder in removed:
        shutil.rmtree(folder)
    return [folder.name for folder in removed]


def is_complete_checkpoint(folder: str | Path) -> bool:
    """
    Whether `folder` holds a whole checkpoint. The Trainer writes trainer_state.json last, so a run killed while
    saving leaves it missing, or empty or cut short when the kill lands during that write.
    """
    try:
        json.loads((Path(folder) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return True


def resolve_resume(value: str | None, output_dir: str | Path) -> str | None:
    """`--resume_from_checkpoint last` -> the newest complete checkpoint of output_dir; a path is checked."""
    if value is None:
        return None
    if value.lower() in ("last", "true"):
        complete = {step: folder for step, folder in checkpoints(output_dir).items() if is_complete_checkpoint(folder)}
        if not complete:
            raise UserInputError(
                f"no complete checkpoint in {output_dir} to resume from; start the run again without "
                "--resume_from_checkpoint (add --overwrite_output_dir)"
            )
        return str(complete[max(complete)])
    if not is_complete_checkpoint(Path(value)):
        raise UserInputError(f"{value} is not a complete checkpoint folder (no readable trainer_state.json)")
    return value
