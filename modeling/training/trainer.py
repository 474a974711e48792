"""The `Trainer` subclass every run uses. It adds what the Trainer lacks for these experiments: layer-wise learning
rates and the optimizer comparison, length-grouped batches in a seeded random order, predictions in the dataset's
order, adversarial training on the embeddings, the plain cross-entropy as the evaluation loss, whole-run training
figures after a resume, and saves that a kill or a full disk cannot leave half-written. Everything else (loop,
schedule, checkpoints, devices) is the Trainer's.
"""

import dataclasses
import errno
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from torch import nn
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, PredictionOutput

from ..errors import UserInputError
from ..files import TEMP_PREFIX, atomic_write_text, replace_folder_contents
from ..problem_types import SINGLE_LABEL
from .losses import plain_loss
from .optimization import layerwise_parameter_groups, resolve_optimizer

logger = logging.getLogger(__name__)

# Columns the tokenised datasets carry beside the model inputs: the raw text and the token count.
OWN_COLUMNS = ("text", "length")

# Each checkpoint's trainer_state.json keeps, under this key of `stateful_callbacks`, the run's training-loss sum and
# seconds so far, so that a resumed run reports figures over the whole run rather than since the resume.
RUN_TOTALS_KEY = "RunTotals"
# Beside each saved model: the arguments that must not change when a run is resumed (see run_folder.run_settings).
RUN_SETTINGS_FILE = "run_settings.json"
# The final model is saved into this temporary folder inside output_dir, then moved file by file over the old one.
SAVING_PREFIX = ".saving-"
# What a failed save raises: a full disk, a write refused (torch.save: a RuntimeError naming the failed write).
SAVE_ERRORS = (OSError, SafetensorError, RuntimeError)


def _is_save_failure(error: BaseException) -> bool:
    return not isinstance(error, RuntimeError) or isinstance(error, SafetensorError) or "writ" in str(error).lower()


def read_run_totals(checkpoint: str | Path | None) -> dict:
    """The training-loss sum, seconds and optimizer steps a checkpoint's run had reached (zeros without one)."""
    totals = {"loss_sum": 0.0, "runtime": 0.0, "global_step": 0}
    if checkpoint is None:
        return totals
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return totals
    saved = (state.get("stateful_callbacks") or {}).get(RUN_TOTALS_KEY)
    if isinstance(saved, dict):
        totals.update({key: saved[key] for key in totals if isinstance(saved.get(key), (int, float))})
    else:  # a checkpoint saved before totals were kept: its steps at least
        totals["global_step"] = int(state.get("global_step") or 0)
    return totals


def _save_failure(folder: Path, error: BaseException) -> UserInputError:
    """The one-line error for a save that failed: a full disk is named as such."""
    full = getattr(error, "errno", None) == errno.ENOSPC or "no space left" in str(error).lower()
    reason = "no space left on device" if full else str(error).strip().splitlines()[0][:200]
    return UserInputError(
        f"could not save {folder}: {reason}; free some space (or fix the folder), then continue the run with "
        "--resume_from_checkpoint last"
    )


class ShuffledLengthGroupedSampler(LengthGroupedSampler):
    """
    `LengthGroupedSampler` that shuffles its batches, and whose order depends only on the seed and the epoch.

    The stock sampler sorts each mega-batch (up to 50 batches) by length and yields its batches longest first, so
    training sweeps from long texts to short ones again and again: the optimizer sees dozens of batches of long texts
    in a row, then dozens of short ones. Where lengths vary widely (IMDB reviews run from 10 to 2,470 words) that
    costs accuracy (docs/results.md, "Batch order"). Here the batches keep their similar lengths, so padding stays
    as low, but come in a random order, as in fairseq's and AllenNLP's bucketed batching; the longest still comes
    first, so running out of memory happens at once rather than late.

    The stock sampler also draws from the global random state, which a run resumed in the middle of an epoch holds in
    another state than the original run did; this one draws from its own generator, seeded by seed and epoch, so a
    resumed run sees the same batches and ends with the same model.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls it before each epoch
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        indices = list(super().__iter__())  # grouped: each run of batch_size indices has similar lengths
        size, full = self.batch_size, len(indices) // self.batch_size
        if full < 2:
            return iter(indices)
        # The first batch holds the longest text and stays first; a shorter rest stays last, since the data loader
        # cuts the stream into batches in order and a short batch in the middle would shift every later batch.
        order = [0, *(torch.randperm(full - 1, generator=self.generator) + 1).tolist()]
        shuffled = [index for batch in order for index in indices[batch * size : (batch + 1) * size]]
        return iter(shuffled + indices[full * size :])


class TextClassificationTrainer(Trainer):
    """
    `Trainer` whose optimizer is built from `layerwise_parameter_groups` with the class `resolve_optimizer` picks
    (the groups and their learning rates are logged when it is created), and whose length-grouped batches come in a
    random order that depends only on the seed and epoch (see `ShuffledLengthGroupedSampler`). Evaluation batches are
    sorted by length, and `predict` returns its outputs in the dataset's order. With `adversarial_epsilon > 0` each
    step also trains on the batch under an adversarial change of the word embeddings.
    """

    def __init__(
        self,
        *args,
        optimizer_name: str | None = None,
        momentum: float = 0.9,
        layerwise_lr_decay: float = 1.0,
        adversarial_epsilon: float = 0.0,
        run_settings: dict | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.run_settings = run_settings  # saved beside every model as run_settings.json, for resume checks
        self._prior_totals = read_run_totals(None)
        self._call_start = time.time()
        # Each example is one item here, so a plain per-batch mean is exact. Telling the Trainer the model takes loss
        # kwargs would make it multiply the loss by the number of processes, which is right only for losses summed
        # over `num_items_in_batch`; BERT's own loss and the label-smoothing loss are means, and would train with
        # gradients N times too large under N processes.
        self.model_accepts_loss_kwargs = False
        self.optimizer_name = optimizer_name
        self.momentum = momentum
        self.layerwise_lr_decay = layerwise_lr_decay
        self.adversarial_epsilon = adversarial_epsilon
        self._eval_order: list[int] | None = None  # the order of the last evaluation's texts, when not the dataset's
        if adversarial_epsilon > 0 and not self.model.get_input_embeddings().weight.requires_grad:
            logger.warning(
                "adversarial training is off: it perturbs the input embeddings along their gradient, and these are "
                "frozen"
            )
            self.adversarial_epsilon = 0.0

    def training_step(self, model: nn.Module, inputs: dict, num_items_in_batch: int | None = None) -> torch.Tensor:
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.adversarial_epsilon > 0:
            # Adversarial training on the word embeddings (Miyato et al. 2017, in its "fast gradient" form): move the
            # embedding matrix a distance epsilon along its loss gradient, add that step's gradients to the clean
            # ones, and move it back: the model learns to hold its prediction under the most harmful small change of
            # the words it read.
            weight = self.accelerator.unwrap_model(model).get_input_embeddings().weight
            if weight.grad is None:  # DeepSpeed and FSDP keep gradients in their own shards
                raise UserInputError(
                    "--adversarial_epsilon needs the embeddings' gradient, which DeepSpeed and FSDP keep in shards; "
                    "pass --adversarial_epsilon 0"
                )
            with torch.no_grad():
                step = weight.grad * (self.adversarial_epsilon / weight.grad.norm().clamp(min=1e-12))
                # No host sync to test the norm: a non-finite gradient (an fp16 overflow the scaler will skip) gives
                # a zero step rather than weights that stay corrupted after the step is taken back.
                step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
                weight.add_(step)
            super().training_step(model, inputs, num_items_in_batch)
            with torch.no_grad():
                weight.sub_(step)
        return loss

    def compute_loss(
        self, model: nn.Module, inputs: dict, return_outputs: bool = False, num_items_in_batch: int | None = None
    ):
        if not model.training and "labels" in inputs:
            # Evaluation reports the plain loss of the problem type, as scripts/evaluate_model.py does, whatever the
            # training objective adds (label smoothing, class weights, an auxiliary loss): one name, one quantity.
            labels = inputs["labels"]
            outputs = model(**{key: value for key, value in inputs.items() if key != "labels"})
            problem_type = getattr(getattr(self.model, "config", None), "problem_type", None) or SINGLE_LABEL
            loss = plain_loss(outputs["logits"], labels, problem_type)
            return (loss, outputs) if return_outputs else loss
        # With label smoothing on (the recurrent types' default) the Trainer takes the labels away from the model and
        # smooths the loss from the logits alone, so a model's `auxiliary_loss` (the Auto-LSTM's reconstruction loss),
        # which the model adds to its own loss only when given labels, would never train: add it here.
        smoothed = self.label_smoother is not None and self.compute_loss_func is None and "labels" in inputs
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        auxiliary = outputs.get("auxiliary_loss") if isinstance(outputs, dict) else None
        if smoothed and auxiliary is not None:
            loss = loss + auxiliary
        return (loss, outputs) if return_outputs else loss

    def _remove_unused_columns(self, dataset, description: str | None = None):
        # `text` (kept for the reports) and `length` are this project's own columns, not model inputs: drop them
        # quietly, so that the Trainer's notice about unused columns is not logged at every evaluation.
        own = [column for column in OWN_COLUMNS if column in dataset.column_names]
        return super()._remove_unused_columns(dataset.remove_columns(own) if own else dataset, description)

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """
        `Trainer.train`; after a resume, `train_loss`, `train_runtime` and the per-second figures cover the whole
        run (the checkpoint's share included) rather than only the steps since the resume.
        """
        checkpoint = resume_from_checkpoint if isinstance(resume_from_checkpoint, (str, Path)) else None
        self._prior_totals = read_run_totals(checkpoint)
        self._call_start = time.time()
        output = super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
        prior = self._prior_totals
        if not prior["global_step"]:
            return output
        steps_now = output.global_step - prior["global_step"]
        metrics = dict(output.metrics)
        loss_sum = prior["loss_sum"] + (output.training_loss * steps_now if steps_now > 0 else 0.0)
        runtime = prior["runtime"] + metrics.get("train_runtime", 0.0)
        train_loss = loss_sum / max(output.global_step, 1)
        # The Trainer's count of samples for the whole schedule, as its speed metrics take it.
        samples = len(self.train_dataset) * self.state.num_train_epochs * output.global_step
        samples /= max(self.state.max_steps, 1)
        metrics.update(
            train_loss=train_loss,
            train_runtime=round(runtime, 4),
            train_samples_per_second=round(samples / runtime, 3) if runtime > 0 else None,
            train_steps_per_second=round(output.global_step / runtime, 3) if runtime > 0 else None,
        )
        return output._replace(training_loss=train_loss, metrics=metrics)

    def _save_checkpoint(self, model: nn.Module, trial) -> None:
        prior = self._prior_totals
        self.state.stateful_callbacks[RUN_TOTALS_KEY] = {
            # What the Trainer has summed since this call started: logged losses plus those not yet logged.
            "loss_sum": prior["loss_sum"] + self._total_loss_scalar + float(self._tr_loss.item()),
            "runtime": prior["runtime"] + time.time() - self._call_start,
            "global_step": self.state.global_step,
        }
        folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        try:
            super()._save_checkpoint(model, trial)
        except (*SAVE_ERRORS, UserInputError) as error:
            if not isinstance(error, UserInputError) and not _is_save_failure(error):
                raise
            # A checkpoint without its trainer_state.json is never resumed from; remove it all the same.
            if self.args.should_save:
                shutil.rmtree(folder, ignore_errors=True)
            if isinstance(error, UserInputError):
                raise
            raise _save_failure(folder, error) from error

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """
        Save weights, config, tokenizer and run settings. The final model (into output_dir itself) goes to a
        temporary folder first and is then moved over the old files one `os.replace` each, so a kill leaves every
        file whole; a failed save leaves the old ones.
        """
        target = Path(output_dir if output_dir is not None else self.args.output_dir)
        if not self.args.should_save:
            return super()._save(str(target), state_dict=state_dict)
        final = target.resolve() == Path(self.args.output_dir).resolve()
        staging = target / f"{SAVING_PREFIX}{os.getpid()}" if final else target
        try:
            if final:
                # Left by a run killed while saving or writing a file; this process writes nothing else meanwhile.
                for stale in [*target.glob(f"{SAVING_PREFIX}*"), *target.glob(f"{TEMP_PREFIX}*")]:
                    if stale.is_dir():
                        shutil.rmtree(stale, ignore_errors=True)
                    else:
                        stale.unlink(missing_ok=True)
            super()._save(str(staging), state_dict=state_dict)
            if self.run_settings is not None:
                atomic_write_text(staging / RUN_SETTINGS_FILE, json.dumps(self.run_settings, indent=2) + "\n")
            for weights in staging.glob("*.safetensors"):
                os.chmod(weights, 0o644)  # safetensors writes 0600; the model is as readable as its other files
            if final:
                replace_folder_contents(staging, target)
        except SAVE_ERRORS as error:
            if final:
                shutil.rmtree(staging, ignore_errors=True)
            if not _is_save_failure(error):
                raise
            raise _save_failure(target, error) from error

    def save_metrics(self, split: str, metrics: dict, combined: bool = True) -> None:
        """`Trainer.save_metrics`, each file written atomically."""
        if not self.is_world_process_zero():
            return
        folder = Path(self.args.output_dir)
        atomic_write_text(folder / f"{split}_results.json", json.dumps(metrics, indent=4, sort_keys=True))
        if combined:
            path = folder / "all_results.json"
            merged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            merged.update(metrics)
            atomic_write_text(path, json.dumps(merged, indent=4, sort_keys=True))

    def save_state(self) -> None:
        """`Trainer.save_state` (trainer_state.json), written atomically."""
        if self.is_world_process_zero():
            path = Path(self.args.output_dir) / "trainer_state.json"
            atomic_write_text(path, json.dumps(dataclasses.asdict(self.state), indent=2, sort_keys=True) + "\n")

    def _get_train_sampler(self, train_dataset=None) -> torch.utils.data.Sampler | None:
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            # Group by the global batch: each process then takes every N-th per-device batch, and N processes see
            # together what one process with an N times larger batch would.
            return ShuffledLengthGroupedSampler(sampler.batch_size * self.args.world_size, sampler.lengths, seed)
        return sampler

    def _get_eval_sampler(self, eval_dataset) -> torch.utils.data.Sampler | list[int] | None:
        sampler = super()._get_eval_sampler(eval_dataset)
        self._eval_order = None
        if isinstance(sampler, LengthGroupedSampler):
            # With length-grouped training the Trainer also groups evaluation batches by length, in a random order,
            # and `predict` then returns its outputs in that order rather than the dataset's. Sorting longest first
            # pads no more, runs out of memory (if it does) at once, and is an order `predict` can undo.
            lengths = sampler.lengths
            self._eval_order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
            return self._eval_order
        return sampler

    def predict(
        self, test_dataset, ignore_keys: list[str] | None = None, metric_key_prefix: str = "test"
    ) -> PredictionOutput:
        """`Trainer.predict`, with predictions and labels in the order of `test_dataset`'s rows."""
        output = super().predict(test_dataset, ignore_keys, metric_key_prefix)
        if self._eval_order is None:
            return output
        position = np.argsort(self._eval_order)  # position[i]: where row i's output sits in the evaluation order
        return output._replace(
            predictions=_take_rows(output.predictions, position), label_ids=_take_rows(output.label_ids, position)
        )

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            model = self.model if model is None else model
            groups = layerwise_parameter_groups(
                model,
                self.args.learning_rate,
                self.args.weight_decay,
                self.layerwise_lr_decay,
                {name for name, _ in model.named_parameters()} - set(self.get_decay_parameter_names(model)),
            )
            optimizer_cls, kwargs = resolve_optimizer(self.optimizer_name, self.args, self.momentum, model)
            kwargs = {key: value for key, value in kwargs.items() if key not in ("lr", "weight_decay")}
            self.optimizer = optimizer_cls(groups, **kwargs)
            logger.info(
                "optimizer %s with %d parameter groups:\n%s",
                optimizer_cls.__name__,
                len(groups),
                "\n".join(
                    f"  {g['name']:<24} lr={g['lr']:.3g} weight_decay={g['weight_decay']:g} "
                    f"params={sum(p.numel() for p in g['params']):,}"
                    for g in groups
                ),
            )
        return self.optimizer


def _take_rows(value, index: np.ndarray):
    """`value[index]` for an array, or for each array of a (nested) tuple or list of them; None stays None."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return type(value)(_take_rows(item, index) for item in value)
    return value[index]
