"""Hyperparameter search with Optuna through `Trainer.hyperparameter_search`: search spaces, storage, the trainer
that runs the trials on data read and tokenised once, and what a search leaves (trials.csv, best.json, plots).

The Trainer's Optuna backend creates (or loads) the study and runs `study.optimize` with a `model_init`, an
`hp_space` and an objective. What this module adds to it:

- search spaces as data (each model family's in the registry, or a YAML or JSON file), checked before anything runs,
  over more than TrainingArguments: the recurrent types' config settings, the vocabulary size, layer-wise decay;
- intermediate values reported per epoch: the Trainer reports them by optimizer step, which differs between trials of
  different batch sizes, so the median pruner would never compare those; and no pruning at a trial's last epoch,
  where the trial has already cost all it will;
- a trial's value is its best evaluation (the checkpoint train.py would keep), not its last one;
- label smoothing searched for real: the Trainer builds its label smoother once, from the arguments it starts with;
- one number of trials for the whole study, whichever processes run them, a line per finished trial, and the trials
  of a killed process marked failed and queued again.
"""

import csv
import dataclasses
import json
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import yaml
from datasets import Dataset, DatasetDict
from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    ProgressCallback,
    TrainingArguments,
)
from transformers.trainer_pt_utils import LabelSmoother
from transformers.trainer_utils import IntervalStrategy, SchedulerType

from .arguments import DataArguments, ModelArguments
from .builders import GloveRows, build_model, build_tokenizer, read_glove_rows
from .data import load_data_config, load_splits, override_columns, tokenize_splits
from .data.word_vectors import tfidf_token_weights
from .errors import UserInputError
from .metrics import build_compute_metrics
from .registry import ModelSpec
from .training import TextClassificationTrainer, class_weighted_loss

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -e ".[search]"'
STORAGE_FILE = "study.db"
TRIALS_FILE = "trials.csv"
BEST_FILE = "best.json"
BEST_DIR = "best"
PLOT_FILES = ("optimization_history.png", "param_importances.png", "parallel_coordinate.png", "slice.png")
# A worker notes itself on each trial it runs, so that a later start on the same machine can tell a trial whose
# process is gone (killed) from one another process is still running.
WORKER = f"{socket.gethostname()}:{os.getpid()}"
# Database storages: a worker's heartbeat every minute; a trial silent for three is failed and queued again by any
# worker of the study (on any machine), up to three times.
HEARTBEAT_S, GRACE_S, MAX_RETRIES = 60, 180, 3

# What can be searched besides config settings. TrainingArguments: those a search commonly tunes.
TRAINING_SETTINGS = (
    "learning_rate", "weight_decay", "warmup_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
    "label_smoothing_factor", "max_grad_norm", "adam_beta1", "adam_beta2", "adam_epsilon", "num_train_epochs",
    "lr_scheduler_type",
)  # fmt: skip
# ModelArguments fields: the trainer's own settings, and the word-level tokenizer's vocabulary size.
MODEL_ARGUMENT_SETTINGS = ("layerwise_lr_decay", "adversarial_epsilon", "momentum", "vocab_size")
# Config settings a flag sets (and the vocabulary size, which the tokenizer decides): not searched as config settings.
_CONFIG_SET_ELSEWHERE = {"vocab_size", "use_token_weights", "freeze_embeddings"}


def import_optuna():
    """The optuna module, or a one-line error naming the pip command that installs it."""
    try:
        import optuna
    except ImportError:
        raise UserInputError(f"hyperparameter search needs optuna: {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the search prints its own line per trial
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


# --- search spaces --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SearchParameter:
    """One searched setting: a range (`low` to `high`, optionally on a log scale or in steps) or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None

    @property
    def is_int(self) -> bool:
        return self.choices is None and all(_is_int(v) for v in (self.low, self.high, self.step) if v is not None)

    def values_to_check(self) -> list:
        """The values whose validity stands for all: the choices, or the ends of the range."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def suggest(self, trial):
        """The value `trial` (an optuna trial) takes for this setting."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.is_int:
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def as_spec(self) -> dict:
        """The setting as a search-space file writes it."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        spec = {"low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value, where: str):
    """A number from a spec: YAML reads 1e-4 (no dot) as text, so numbers written as text are read too."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise UserInputError(f"{where} must be a number, got {value!r}")
    return value


def parse_parameter(name: str, spec, where: str) -> SearchParameter:
    """`{"low": .., "high": .., "log": .., "step": ..}` or `{"choices": [...]}` -> a SearchParameter, checked."""
    here = f"{where}: {name}"
    if not isinstance(spec, dict) or not spec:
        raise UserInputError(f"{here} must be {{low, high}} (with optional log, step) or {{choices: [...]}}")
    unknown = set(spec) - {"low", "high", "log", "step", "choices"}
    if unknown:
        raise UserInputError(f"{here} has unknown keys {sorted(unknown)}; use low, high, log, step or choices")
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"}:
            raise UserInputError(f"{here}: give either choices or a range (low, high), not both")
        if not isinstance(choices, list) or not choices:
            raise UserInputError(f"{here}: choices must be a non-empty list")
        if not all(value is None or isinstance(value, (bool, int, float, str)) for value in choices):
            raise UserInputError(f"{here}: choices must be numbers, text or true/false, got {choices!r}")
        if len(set(map(repr, choices))) < len(choices):
            raise UserInputError(f"{here}: choices repeat a value: {choices!r}")
        return SearchParameter(name, choices=tuple(choices))
    if "low" not in spec or "high" not in spec:
        raise UserInputError(f"{here} needs both low and high (or choices)")
    low, high = _number(spec["low"], f"{here}.low"), _number(spec["high"], f"{here}.high")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise UserInputError(f"{here}.log must be true or false, got {log!r}")
    step = None if spec.get("step") is None else _number(spec["step"], f"{here}.step")
    if not low < high:
        raise UserInputError(f"{here}: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise UserInputError(f"{here}: a log scale needs low above 0, got {low}")
    if step is not None and (step <= 0 or log):
        raise UserInputError(f"{here}: step must be positive, and cannot go with log")
    return SearchParameter(name, low, high, log, step)


def read_search_space_file(path: str | Path) -> dict:
    """The settings of a YAML or JSON search-space file, as written (checked by `resolve_search_space`)."""
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserInputError(f"--search_space {path}: not a readable YAML or JSON file ({reason})") from None
    if not isinstance(loaded, dict) or not loaded:
        raise UserInputError(
            f"--search_space {path}: expected a mapping of setting names to {{low, high}} or {{choices: [...]}}, "
            "e.g. 'learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}'"
        )
    return loaded


def default_search_space(spec: ModelSpec, finetune_strategy: str = "full") -> dict:
    """The registry's search space for `spec`'s family (and fine-tuning strategy), as a file would write it."""
    family = spec.family
    return {**family.search_space, **family.strategy_search_space.get(finetune_strategy, {})}


def searchable_config_settings(spec: ModelSpec) -> dict:
    """Config settings of a recurrent type that can be searched, with their defaults; none for a transformer."""
    if spec.is_pretrained:
        return {}
    base = set(PretrainedConfig().to_dict())
    return {
        key: value
        for key, value in spec.config_class().to_dict().items()
        if key not in base and key not in _CONFIG_SET_ELSEWHERE and isinstance(value, (bool, int, float, str))
    }


def resolve_search_space(
    spec: ModelSpec, model_args: ModelArguments, path: str | Path | None = None
) -> dict[str, SearchParameter]:
    """
    The search space of a run: the file at `path`, or the registry's for the model's family. Each setting must be one
    this search can apply to `spec` and each value one the setting takes; otherwise a one-line error.
    """
    raw = (
        read_search_space_file(path) if path is not None else default_search_space(spec, model_args.finetune_strategy)
    )
    where = f"--search_space {path}" if path is not None else f"the {spec.family.name} family's search space"
    space = {str(name): parse_parameter(str(name), value, where) for name, value in raw.items()}
    config_settings = searchable_config_settings(spec)
    for name, parameter in space.items():
        values = parameter.values_to_check()
        if name in TRAINING_SETTINGS:
            _check_training_values(parameter, where)
        elif name in MODEL_ARGUMENT_SETTINGS:
            _check_model_argument_values(parameter, spec, model_args, where)
        elif name in config_settings:
            _check_config_values(parameter, spec, model_args.overrides, config_settings[name], where)
        else:
            config_names = ", ".join(config_settings) if config_settings else "none for a pretrained transformer"
            raise UserInputError(
                f"{where}: {name!r} cannot be searched for {spec.model_type}; choose from TrainingArguments "
                f"({', '.join(TRAINING_SETTINGS)}), {', '.join(MODEL_ARGUMENT_SETTINGS)}, or config settings "
                f"({config_names})"
            )
        if name == "embedding_dim" and model_args.glove_path:
            raise UserInputError(f"{where}: embedding_dim is fixed by --glove_path's vectors; leave it out")
        if not values:  # unreachable: parse_parameter refuses an empty space
            raise UserInputError(f"{where}: {name} has no values")
    return space


def _check_training_values(parameter: SearchParameter, where: str) -> None:
    name, values = parameter.name, parameter.values_to_check()
    if name == "lr_scheduler_type":
        known = [scheduler.value for scheduler in SchedulerType]
        if parameter.choices is None or any(value not in known for value in values):
            raise UserInputError(f"{where}: lr_scheduler_type takes choices from {', '.join(known)}")
        return
    whole = name in ("per_device_train_batch_size", "gradient_accumulation_steps")
    for value in values:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or (whole and not _is_int(value)):
            raise UserInputError(f"{where}: {name} takes {'whole ' if whole else ''}numbers, got {value!r}")
        if value < 0 or (value == 0 and name in ("learning_rate", "per_device_train_batch_size", "num_train_epochs")):
            raise UserInputError(f"{where}: {name} must be positive, got {value!r}")


def _check_model_argument_values(
    parameter: SearchParameter, spec: ModelSpec, model_args: ModelArguments, where: str
) -> None:
    name, values = parameter.name, parameter.values_to_check()
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in values):
        raise UserInputError(f"{where}: {name} takes numbers, got {values!r}")
    if name == "vocab_size":
        if spec.is_pretrained or model_args.tokenizer_name:
            raise UserInputError(f"{where}: vocab_size is searched for the word-level tokenizer only")
        if not all(_is_int(v) and v > 0 for v in values):
            raise UserInputError(f"{where}: vocab_size takes positive whole numbers, got {values!r}")
    elif name == "layerwise_lr_decay" and not all(0 < v <= 1 for v in values):
        raise UserInputError(f"{where}: layerwise_lr_decay must be in (0, 1], got {values!r}")
    elif name in ("adversarial_epsilon", "momentum") and not all(v >= 0 for v in values):
        raise UserInputError(f"{where}: {name} must be 0 or positive, got {values!r}")


def _check_config_values(parameter: SearchParameter, spec: ModelSpec, overrides: dict, default, where: str) -> None:
    name = parameter.name
    if isinstance(default, bool):
        ok, kind = parameter.choices is not None and all(isinstance(v, bool) for v in parameter.choices), "true/false"
    elif isinstance(default, int):
        whole = parameter.is_int if parameter.choices is None else all(_is_int(v) for v in parameter.choices)
        ok, kind = whole, "whole numbers"
    elif isinstance(default, float):
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parameter.values_to_check())
        kind = "numbers"
    else:
        ok, kind = parameter.choices is not None and all(isinstance(v, str) for v in parameter.choices), "text choices"
    if not ok:
        raise UserInputError(f"{where}: {name} takes {kind}, got {parameter.as_spec()}")
    for value in parameter.values_to_check():
        try:
            spec.config_class(**{**overrides, name: value})  # the config checks the values it constrains
        except (ValueError, TypeError) as error:
            raise UserInputError(f"{where}: {name}={value!r}: {error}") from None


def split_settings(space: dict[str, SearchParameter], params: dict) -> tuple[dict, dict, dict]:
    """A trial's values -> (TrainingArguments values, ModelArguments values, config settings)."""
    training = {k: v for k, v in params.items() if k in TRAINING_SETTINGS}
    model = {k: v for k, v in params.items() if k in MODEL_ARGUMENT_SETTINGS}
    config = {k: v for k, v in params.items() if k not in training and k not in model}
    return training, model, config


# --- storage and study ----------------------------------------------------------------------------------------


def default_storage_url(output_dir: str | Path) -> str:
    return f"sqlite:///{(Path(output_dir) / STORAGE_FILE).resolve()}"


def shown_url(url: str) -> str:
    """`url` with any password hidden, for messages and records."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a database URL (a journal file): nothing to hide
        return url


def open_storage(url: str):
    """
    The Optuna storage of `url`: a database URL Optuna supports (sqlite:///FILE, postgresql://..., mysql://...) with
    heartbeats, or `journal:FILE`, a journal file several processes on one machine (or a shared file system) can
    write without a database server. A URL that cannot be opened is a one-line error.
    """
    optuna = import_optuna()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:").removeprefix("//"))
        if not str(path) or path.is_dir() or not path.parent.is_dir():
            raise UserInputError(f"--storage {url}: journal:FILE needs a file in an existing folder")
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    import sqlalchemy.exc

    try:
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES),
        )
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserInputError(
            f"--storage {shown_url(url)}: cannot open it ({reason[:200]}); give an Optuna database URL such as "
            "sqlite:///FILE or postgresql://USER@HOST/DB, or journal:FILE"
        ) from None


def open_study(storage, study_name: str, direction: str, record: dict, storage_shown: str):
    """
    Create the study, or load it to resume or to join its other processes. `record` (the train.py arguments and the
    search space) is kept with the study: a study started with another record is refused, so that trials of
    different searches never mix.
    """
    optuna = import_optuna()
    study = optuna.create_study(storage=storage, study_name=study_name, direction=direction, load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise UserInputError(
            f"study {study_name!r} in {storage_shown} was started to {study.direction.name.lower()} its metric; "
            "choose another --study_name"
        )
    recorded = study.user_attrs.get("search")
    if recorded is None:
        study.set_user_attr("search", record)
    elif recorded != record:
        changed = [key for key in record if recorded.get(key) != record[key]]
        raise UserInputError(
            f"study {study_name!r} in {storage_shown} was started with another {' and '.join(changed)} "
            f"({json.dumps(recorded[changed[0]])[:300]}); choose another --study_name or --output_dir"
        )
    return study


def finished_trials(study) -> list:
    """The trials that count towards --n_trials: completed or pruned (failed ones are run again)."""
    optuna = import_optuna()
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: alive
        return False
    return False


def requeue_interrupted_trials(study) -> list[int]:
    """
    Queue again the settings of the trials an interrupted process left: those that failed (Optuna fails a trial
    stopped by Ctrl-C, or by an error) and those still marked running whose process, on this machine, is gone
    (killed), which are marked failed first. Each failed trial runs again once; a retry that fails too is left. Trials
    running on other machines are left to the storage's heartbeat. Returns the numbers of the trials queued again.
    """
    optuna = import_optuna()
    state = optuna.trial.TrialState
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if worker_host != host or not pid.isdigit() or not _process_is_gone(int(pid)):
            continue
        try:
            study._storage.set_trial_state_values(trial._trial_id, state=state.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:  # another process got there first
            continue
    trials = study.get_trials(deepcopy=False)
    # Retries queued here name their trial in `retry_of`; those the storage's heartbeat queued, in `failed_trial`.
    retried = {t.user_attrs.get("retry_of") for t in trials} | {t.system_attrs.get("failed_trial") for t in trials}
    requeued = []
    for trial in trials:
        is_retry = "retry_of" in trial.user_attrs or "failed_trial" in trial.system_attrs
        if trial.state == state.FAIL and trial.number not in retried and not is_retry:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            requeued.append(trial.number)
    return requeued


# --- running the trials ---------------------------------------------------------------------------------------


class SearchProgress:
    """One line per finished trial (its value, the best so far, the time), and the end of the study's trials."""

    def __init__(self, n_trials: int, metric: str, maximize: bool, write: Callable[[str], None] = print):
        self.n_trials, self.metric, self.maximize, self.write = n_trials, metric, maximize, write
        self.started = time.monotonic()

    def better(self, value: float, than: float | None) -> bool:
        return than is None or (value > than if self.maximize else value < than)

    def trial_finished(self, trial, value: float | None, seconds: float, pruned_at: int | None = None) -> None:
        done = finished_trials(trial.study)
        count = len(done) + 1  # this trial is told to the study only once the objective returns
        best_value, best_trial = (value, trial.number) if pruned_at is None and value is not None else (None, None)
        for other in done:
            if other.state.name == "COMPLETE" and self.better(other.value, best_value):
                best_value, best_trial = other.value, other.number
        shown = "-" if value is None else f"{value:.4f}"
        outcome = f"{self.metric} {shown}" + (f", pruned after epoch {pruned_at}" if pruned_at is not None else "")
        best = f"best {best_value:.4f} (trial {best_trial})" if best_value is not None else "no trial completed yet"
        self.write(
            f"trial {trial.number} [{count}/{self.n_trials}]: {outcome} | {best} | "
            f"{_duration(seconds)}, {_duration(time.monotonic() - self.started)} elapsed"
        )
        if count >= self.n_trials:
            trial.study.stop()  # the other processes of the study stop at their next trial's end the same way


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class TrialEarlyStopping(EarlyStoppingCallback):
    """`EarlyStoppingCallback` for trials: a trial keeps no checkpoint, and each trial starts its own count."""

    def on_train_begin(self, args, state, control, **kwargs):
        # The stock callback warns that no best model is loaded (a trial needs none: its value is its best
        # evaluation) and keeps its count from the previous trial.
        self.early_stopping_patience_counter = 0


class SearchTrainer(TextClassificationTrainer):
    """
    `TextClassificationTrainer` for the trials of `hyperparameter_search`: it reports each evaluation to Optuna by
    epoch, prunes only before the last epoch, makes a trial's value its best evaluation, and writes a line when a
    trial ends (`progress`).
    """

    progress: SearchProgress | None = None

    def train(self, resume_from_checkpoint=None, trial=None, **kwargs):
        if trial is None or self.hp_search_backend is None:
            return super().train(resume_from_checkpoint, trial=trial, **kwargs)
        optuna = import_optuna()
        trial.set_user_attr("worker", WORKER)
        started = time.monotonic()
        self._reported_epoch, self._last_value = None, None
        try:
            output = super().train(resume_from_checkpoint, trial=trial, **kwargs)
        except optuna.TrialPruned:
            if self.progress is not None:
                self.progress.trial_finished(trial, self._last_value, time.monotonic() - started, self._reported_epoch)
            raise
        if self.progress is not None:
            self.progress.trial_finished(trial, self.objective, time.monotonic() - started)
        return output

    def _report_to_hp_search(self, trial, step: int, metrics: dict[str, float]) -> None:
        if self.hp_search_backend is None or trial is None:
            return
        optuna = import_optuna()
        value = self.compute_objective(metrics)
        maximize = self.args.greater_is_better
        best = getattr(self, "objective", None)
        if best is None or (value > best if maximize else value < best):
            self.objective = value
        # By epoch, so that trials of different batch sizes are compared at the same point; with evaluation every
        # N steps (--eval_strategy steps), by step, as the Trainer does.
        by_epoch = self.args.eval_strategy == IntervalStrategy.EPOCH
        self._reported_epoch = round(self.state.epoch or 0) if by_epoch else self.state.global_step
        self._last_value = value
        trial.report(value, self._reported_epoch)
        last = self.state.global_step >= self.state.max_steps
        if not last and trial.should_prune():
            self.callback_handler.on_train_end(self.args, self.state, self.control)
            raise optuna.TrialPruned()


@dataclasses.dataclass
class TrialData:
    """What one vocabulary gives: the tokenizer, the tokenised splits, and the TF-IDF weights and GloVe rows."""

    tokenizer: PreTrainedTokenizerBase
    tokenized: DatasetDict
    token_weights: torch.Tensor | None = None
    glove: GloveRows | None = None


class TrialBuilder:
    """
    Builds each trial from data read once: its model (`model_init`) with the trial's config settings, and its
    training settings (`hp_space`). The tokenizer is trained and the texts tokenised once, or once per vocabulary
    size where that is searched.
    """

    def __init__(
        self,
        model_args: ModelArguments,
        data_args: DataArguments,
        training_args: TrainingArguments,
        space: dict[str, SearchParameter],
        raw: DatasetDict,
        checkpoint: str | None,
        max_length: int,
        truncation: str,
    ):
        self.model_args, self.data_args, self.training_args = model_args, data_args, training_args
        self.spec: ModelSpec = model_args.spec
        self.space, self.raw, self.checkpoint = space, raw, checkpoint
        self.max_length, self.truncation = max_length, truncation
        self.label_names: list[str] = raw["train"].features["label"].names
        self._data: dict[int, TrialData] = {}
        self.trainer: SearchTrainer | None = None

    def settings(self, trial) -> dict:
        """The trial's value of every searched setting (none without a trial)."""
        return {} if trial is None else {name: p.suggest(trial) for name, p in self.space.items()}

    def data(self, vocab_size: int | None = None) -> TrialData:
        """The tokenizer and tokenised splits for `vocab_size` (default: --vocab_size), built once each."""
        vocab_size = vocab_size or self.model_args.vocab_size
        if vocab_size not in self._data:
            tokenizer = build_tokenizer(
                self.model_args, self.checkpoint, self.raw["train"], self.max_length, vocab_size
            )
            tokenized = tokenize_splits(self.raw, tokenizer, self.max_length, self.truncation)
            weights = None
            if self.model_args.tfidf_weighting:
                weights = tfidf_token_weights(tokenized["train"]["input_ids"], len(tokenizer))
            self._data[vocab_size] = TrialData(tokenizer, tokenized, weights)
        return self._data[vocab_size]

    def model_init(self, trial=None) -> PreTrainedModel:
        """A fresh model for `trial` (the Trainer calls it before each trial, and once without one when created)."""
        _, model_settings, config_settings = split_settings(self.space, self.settings(trial))
        data = self.data(model_settings.get("vocab_size"))
        if self.trainer is not None:  # the trial's data, when its vocabulary differs from the last trial's
            self.trainer.train_dataset = data.tokenized["train"]
            self.trainer.eval_dataset = data.tokenized["validation"]
            self.trainer.processing_class = data.tokenizer
            self.trainer.data_collator = self.collator(data.tokenizer)
        if self.model_args.glove_path and data.glove is None:  # the file is read once per vocabulary
            dim = self.spec.config_class(**{**self.model_args.overrides, **config_settings}).embedding_dim
            data.glove = read_glove_rows(self.model_args.glove_path, data.tokenizer, dim)
        return build_model(
            self.spec,
            self.model_args,
            self.label_names,
            checkpoint=self.checkpoint,
            tokenizer=data.tokenizer,
            truncation=self.truncation,
            config_settings=config_settings,
            token_weights=data.token_weights,
            glove=data.glove,
        )

    def hp_space(self, trial) -> dict:
        """
        The trial's TrainingArguments values, which the Trainer sets on its arguments; the trainer's own settings
        (layer-wise decay, adversarial training, momentum, label smoothing) are set here.
        """
        training, model_settings, _ = split_settings(self.space, self.settings(trial))
        trainer = self.trainer
        for name, value in self._trainer_settings.items():
            setattr(trainer, name, model_settings.get(name, value))
        smoothing = training.get("label_smoothing_factor", self.training_args.label_smoothing_factor)
        trainer.label_smoother = LabelSmoother(epsilon=smoothing) if smoothing else None
        if self.model_args.class_weights == "balanced":
            trainer.compute_loss_func, _ = class_weighted_loss(
                trainer.train_dataset["label"], len(self.label_names), smoothing
            )
        return training

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> DataCollatorWithPadding:
        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=self.data_args.pad_to_multiple_of or None)

    def build_trainer(self) -> SearchTrainer:
        """The trainer every trial runs in: no checkpoints, no test split, early stopping as the run says."""
        args = dataclasses.replace(
            self.training_args,
            save_strategy="no",
            load_best_model_at_end=False,
            push_to_hub=False,
            report_to="none",
            disable_tqdm=True,
        )
        data = self.data()
        patience = self.data_args.early_stopping_patience
        self.trainer = SearchTrainer(
            model_init=self.model_init,
            args=args,
            train_dataset=data.tokenized["train"],
            eval_dataset=data.tokenized["validation"],
            processing_class=data.tokenizer,
            data_collator=self.collator(data.tokenizer),
            compute_metrics=build_compute_metrics(len(self.label_names)),
            callbacks=[TrialEarlyStopping(early_stopping_patience=patience)] if patience else [],
            optimizer_name=self.model_args.optimizer,
            momentum=self.model_args.momentum,
            layerwise_lr_decay=self.model_args.layerwise_lr_decay,
            adversarial_epsilon=self.model_args.adversarial_epsilon,
        )
        # One line per trial is the search's progress: not the Trainer's log lines or bars of every trial.
        self.trainer.remove_callback(PrinterCallback)
        self.trainer.remove_callback(ProgressCallback)
        # What the trainer made of the flags (it turns adversarial training off for frozen embeddings): the values of
        # the trials that do not search these.
        self._trainer_settings = {
            name: getattr(self.trainer, name) for name in ("layerwise_lr_decay", "adversarial_epsilon", "momentum")
        }
        return self.trainer


def load_search_data(data_args: DataArguments, seed: int) -> tuple[DatasetDict, int, str]:
    """
    The training and validation splits as train.py reads them (first --max_train_samples / --max_eval_samples rows);
    the test split is left out, so no trial ever sees it. Returns them with the max length and the cut.
    """
    data_config = override_columns(load_data_config(data_args.dataset), data_args.text_column, data_args.label_column)
    splits = load_splits(data_config, data_args.data_dir, seed=seed)
    raw = DatasetDict()
    for split, limit in (("train", data_args.max_train_samples), ("validation", data_args.max_eval_samples)):
        dataset: Dataset = splits[split]
        raw[split] = dataset.select(range(min(limit, len(dataset)))) if limit is not None else dataset
    return raw, data_args.max_length or data_config.max_length, data_args.truncation or data_config.truncation


# --- what a search leaves -------------------------------------------------------------------------------------


def metric_key(metric: str) -> str:
    return metric if metric.startswith("eval_") else f"eval_{metric}"


def write_trials_csv(study, path: Path) -> None:
    """One row per trial: number, state, value, duration, the last epoch reported, its settings, what it retried."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda trial: trial.number)
    names = list(dict.fromkeys(name for trial in trials for name in trial.params))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial", "state", "value", "duration_s", "last_epoch", *names, "retry_of"])
        for trial in trials:
            duration = trial.duration.total_seconds() if trial.duration is not None else None
            writer.writerow(
                [
                    trial.number,
                    trial.state.name,
                    "" if trial.value is None else trial.value,
                    "" if duration is None else round(duration, 1),
                    "" if trial.last_step is None else trial.last_step,
                    *["" if name not in trial.params else trial.params[name] for name in names],
                    trial.user_attrs.get("retry_of", ""),
                ]
            )


def _flag_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def best_flags(params: dict, space: dict[str, SearchParameter], model_args: ModelArguments) -> list[str]:
    """
    A trial's settings as train.py flags; config settings join the run's own --config_overrides in one
    --config_overrides.
    """
    training, model_settings, config = split_settings(space, params)
    flags = [
        item for name, value in {**training, **model_settings}.items() for item in (f"--{name}", _flag_value(value))
    ]
    if config:
        overrides = {**model_args.overrides, **config}
        flags += ["--config_overrides", ",".join(f"{key}={_flag_value(value)}" for key, value in overrides.items())]
    return flags


def best_train_command(train_arguments: list[str], flags: list[str], output_dir: Path) -> list[str]:
    """The train.py command of the best settings: the search's train.py arguments, then `flags` (which win)."""
    arguments = list(train_arguments)
    if "--config_overrides" in flags:  # it holds the run's own overrides too: drop the first one
        for index in reversed(range(len(arguments))):
            if arguments[index].startswith("--config_overrides="):
                del arguments[index]
            elif arguments[index] == "--config_overrides":
                del arguments[index : index + 2]
    return [*arguments, *flags, "--output_dir", str(output_dir)]


def write_plots(study, folder: Path) -> list[str]:
    """Optuna's matplotlib plots of the study, as PNG files in `folder`; returns the names written."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    completed = [trial for trial in study.get_trials(deepcopy=False) if trial.state.name == "COMPLETE"]
    drawers = {
        "optimization_history.png": plots.plot_optimization_history,
        "param_importances.png": plots.plot_param_importances,  # needs two completed trials
        "parallel_coordinate.png": plots.plot_parallel_coordinate,
        "slice.png": plots.plot_slice,
    }
    written = []
    for name, draw in drawers.items():
        if not completed or (name == "param_importances.png" and len(completed) < 2):
            continue
        try:
            with warnings.catch_warnings():  # matplotlib's about a setting that took one value only
                warnings.simplefilter("ignore", UserWarning)
                axes = draw(study)
        except (ValueError, RuntimeError) as error:  # e.g. importances of settings that never varied
            logger.warning("%s not drawn: %s", name, error)
            continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.set_size_inches(max(figure.get_size_inches()[0], 8), max(figure.get_size_inches()[1], 5))
        figure.savefig(folder / name, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(name)
    return written
