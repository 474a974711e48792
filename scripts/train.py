#!/usr/bin/env python
"""Train any model type of this project on any dataset config with the transformers Trainer.

    python scripts/train.py --model_type attn_bilstm --dataset tweet_sentiment --output_dir outputs/attn
    accelerate launch scripts/train.py --model_type attn_bilstm --dataset 20newsgroups
    python scripts/train.py --model_type distilbert --model_name_or_path DIR --finetune_strategy hybrid ...
    python scripts/train.py --model_type attn_bilstm --teacher_model_name_or_path outputs/minilm  # distillation

Every TrainingArguments flag works too (`--help` lists them all); a JSON file of arguments can replace the flags.
The run leaves in --output_dir the best model (by --metric_for_best_model: macro-F1, or for regression data the
lowest mse, unless told otherwise) with its tokenizer and config, `all_results.json`, the test predictions and the
reports described in README.md.

--do_train, --do_eval and --do_predict choose the stages, as in transformers' run_classification.py: training,
the final evaluation on the validation split, predictions and reports on the test split; none of them means all
three. Without --do_train, --do_eval/--do_predict use a finished run's model, never changing it: the folder given
as --model_name_or_path (results then go to --output_dir), or else the one in --output_dir (results go beside it).

--push_to_hub uploads the finished folder once, at the end, with its model card: --hub_strategy every_save (the
default) and end both mean this; checkpoint and all_checkpoints are refused. --report_to tensorboard logs into
OUTPUT_DIR/runs (pip install -e ".[tracking]"); --fp16 needs a GPU, --bf16 a device with bfloat16.
"""

import json
import logging
from pathlib import Path

import transformers
from datasets import DatasetDict
from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrainingArguments,
    set_seed,
)

from modeling.arguments import DataArguments, ModelArguments, parse_args
from modeling.builders import build_model, build_tokenizer
from modeling.data import (
    DataConfig,
    check_training_classes,
    label_names_of,
    load_data_config,
    load_splits,
    override_columns,
    saved_truncation,
    tokenize_splits,
)
from modeling.data.word_vectors import tfidf_token_weights
from modeling.distillation import prepare_distillation
from modeling.errors import UserInputError, cli_entry_point
from modeling.files import atomic_write_text
from modeling.hub import check_repo_id, push_to_hub
from modeling.inference import check_model_labels, load_model_folder
from modeling.metrics import build_compute_metrics
from modeling.problem_types import DEFAULT_THRESHOLD, MULTI_LABEL, SINGLE_LABEL, saved_threshold
from modeling.registry import MODEL_SPECS, ModelSpec, check_pretrained_source
from modeling.reporting import (
    dataset_card_arguments,
    format_summary,
    split_coverage,
    write_model_card,
    write_run_reports,
)
from modeling.run_folder import (
    ADAPTER_DIR,
    TRAINING_ARGS_FILE,
    check_output_dir,
    check_resume,
    clear_previous_run,
    remove_checkpoints,
    resolve_resume,
    run_settings,
    trained_model_folder,
)
from modeling.training import (
    DistillationCollator,
    DistillationTrainer,
    TextClassificationTrainer,
    class_weighted_loss,
    count_parameters,
    merge_lora_into_trainer,
)

logger = logging.getLogger("train")


def absolute_if_local(name: str | None) -> str | None:
    """`name` as an absolute path when it is a local file or folder; a Hub id (or None) as it is."""
    return str(Path(name).resolve()) if name is not None and Path(name).exists() else name


def check_problem_type(
    problem_type: str, model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments
) -> None:
    """
    Fit the run to the data's problem type: refuse what needs one class per text (class weights), a threshold for
    data without labels to threshold (parse_args has checked the best-model metric); turn label smoothing (the
    recurrent default) off where there are no class ids.
    """
    if data_args.multi_label_threshold is not None and problem_type != MULTI_LABEL:
        raise UserInputError(f"--multi_label_threshold is for multi-label data; this data is {problem_type}")
    if problem_type == SINGLE_LABEL:
        return
    if model_args.class_weights is not None:
        raise UserInputError(f"--class_weights needs one class per text; this data is {problem_type}")
    if training_args.label_smoothing_factor:
        # The Trainer's label smoother reads the labels as class ids; multi-hot rows and values are not.
        logger.info(
            "label smoothing off (--label_smoothing_factor %g): it applies to single-label data, this is %s",
            training_args.label_smoothing_factor, problem_type,
        )  # fmt: skip
        training_args.label_smoothing_factor = 0.0


def load_trained_model(
    folder: Path,
    spec: ModelSpec,
    label_names: list[str],
    data_config: DataConfig,
    data_args: DataArguments,
    training_args: TrainingArguments,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, str, float]:
    """
    For --do_eval/--do_predict without --do_train: the model and tokenizer saved in `folder`, checked against the
    data and --model_type, with the cut and multi-label threshold it trained with (unless the flags give others).
    """
    model, tokenizer = load_model_folder(str(folder), training_args.device)
    check_model_labels(model.config, label_names, data_config.problem_type, data_config.name)
    held = model.config.model_type
    if held != spec.model_type and (not spec.is_pretrained or held in MODEL_SPECS):
        raise UserInputError(f"{folder} holds a {held} model, not --model_type {spec.model_type}")
    truncation = data_args.truncation or saved_truncation(model.config)
    threshold = data_args.multi_label_threshold or saved_threshold(model.config)
    logger.info("evaluating the trained model in %s (no training)", folder)
    recorded = folder / TRAINING_ARGS_FILE
    seed = json.loads(recorded.read_text()).get("seed") if recorded.is_file() else None
    if seed is not None and seed != training_args.seed:
        logger.warning(
            "%s trained with --seed %s, this run has --seed %s: a validation or test split made from train "
            "differs, and may hold texts it trained on; pass --seed %s",
            folder, seed, training_args.seed, seed,
        )  # fmt: skip
    return model, tokenizer, truncation, threshold


@cli_entry_point
def main() -> None:
    model_args, data_args, training_args, distillation_args = parse_args(__doc__)
    spec = model_args.spec
    output_dir = Path(training_args.output_dir)
    # Without --do_train: an earlier run's model, evaluated where it lies (or with results in another output_dir).
    trained = None if training_args.do_train else trained_model_folder(model_args.model_name_or_path, output_dir)
    in_place = trained is not None and trained.resolve() == output_dir.resolve()
    if not in_place:
        check_output_dir(output_dir, data_args.overwrite_output_dir, training_args.resume_from_checkpoint is not None)
    resume = resolve_resume(
        training_args.resume_from_checkpoint, output_dir, with_optimizer=not training_args.save_only_model
    )
    # The Trainer would create the hub repository at init and push at every save (failing offline before training
    # starts): instead everything is saved locally and uploaded once, with its model card, at the end. The token is
    # taken out of the arguments so that the saved training_args.bin never holds it.
    hub_repo_id, hub_token = None, training_args.hub_token
    training_args.hub_token = None
    if training_args.push_to_hub:
        hub_repo_id = training_args.hub_model_id or Path(training_args.output_dir).absolute().name
        check_repo_id(hub_repo_id)
        training_args.push_to_hub = False

    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        level=logging.INFO if training_args.should_log else logging.WARNING,
    )
    transformers.utils.logging.set_verbosity(logging.INFO if training_args.should_log else logging.WARNING)
    for name in ("train", "modeling"):
        logging.getLogger(name).setLevel(logging.INFO)
    set_seed(training_args.seed)

    data_config = override_columns(load_data_config(data_args.dataset), data_args.text_column, data_args.label_column)
    problem_type = data_config.problem_type
    check_problem_type(problem_type, model_args, data_args, training_args)
    max_length = data_args.max_length or data_config.max_length
    truncation = data_args.truncation or data_config.truncation
    checkpoint = (model_args.model_name_or_path or spec.default_checkpoint) if spec.is_pretrained else None
    threshold = data_args.multi_label_threshold or DEFAULT_THRESHOLD
    if trained is None:
        check_pretrained_source(checkpoint)  # before the data are read: a Hub id needs the Hub
        check_pretrained_source(model_args.tokenizer_name, "--tokenizer_name")

    # 1. Data: read, label and split once; tokenise once (the other processes wait, then read the cache).
    with training_args.main_process_first(desc="loading the dataset"):
        raw = load_splits(data_config, data_args.data_dir, seed=training_args.seed)
    if training_args.do_train:
        check_training_classes(raw["train"], data_config)
    split_sizes = {split: len(rows) for split, rows in raw.items()}  # before any --max_*_samples
    for split, limit in (
        ("train", data_args.max_train_samples),
        ("validation", data_args.max_eval_samples),
        ("test", data_args.max_test_samples),
    ):
        if limit is not None:
            classes = len(set(raw[split]["label"])) if problem_type == SINGLE_LABEL else 0
            raw[split] = raw[split].select(range(min(limit, len(raw[split]))))
            kept = len(set(raw[split]["label"])) if problem_type == SINGLE_LABEL else 0
            if kept < classes:
                # A source stored sorted by label (the Hub's IMDB) gives a first N of one class.
                logger.warning(
                    "the first %d %s rows hold %d of the split's %d classes; is the source sorted by label? "
                    "Shuffle its files, or use more rows",
                    len(raw[split]), split, kept, classes,
                )  # fmt: skip
    label_names = label_names_of(raw["train"], data_config)
    logger.info(
        "dataset %s (%s): %s rows, labels %s",
        data_config.name, problem_type, {k: len(v) for k, v in raw.items()}, label_names,
    )  # fmt: skip

    distillation = None
    if distillation_args.teacher_model_name_or_path is not None:  # the transfer set and its teacher logits
        with training_args.main_process_first(desc="teacher logits"):
            distillation = prepare_distillation(distillation_args, raw, training_args.seed, training_args.device)

    if trained is None:
        tokenizer = build_tokenizer(model_args, checkpoint, raw["train"], max_length)
    else:  # the trained model, its tokenizer, and how it cut and thresholded
        model, tokenizer, truncation, threshold = load_trained_model(
            trained, spec, label_names, data_config, data_args, training_args
        )
    # The splits the stages use (the Trainer always takes a validation split).
    used = ["validation"] + ["train"] * training_args.do_train + ["test"] * training_args.do_predict
    with training_args.main_process_first(desc="tokenisation"):
        tokenized = tokenize_splits(
            DatasetDict({split: raw[split] for split in used}), tokenizer, max_length, truncation
        )
        if distillation is not None:  # the student trains on the transfer set, and is tested on the plain splits
            tokenized["transfer"] = distillation.tokenize(tokenizer, max_length, truncation)

    # 2. Model.
    if trained is None:
        token_weights = None
        if model_args.tfidf_weighting:
            token_weights = tfidf_token_weights(tokenized["train"]["input_ids"], len(tokenizer))
        model = build_model(
            spec,
            model_args,
            label_names,
            checkpoint=checkpoint,
            tokenizer=tokenizer,
            truncation=truncation,
            problem_type=problem_type,
            threshold=threshold,
            token_weights=token_weights,
        )
    trainable_params, total_params = count_parameters(model)
    logger.info("parameters: %s trainable of %s", f"{trainable_params:,}", f"{total_params:,}")
    settings = run_settings(model_args, data_args, training_args, distillation_args)
    if resume is not None:  # before anything is written: the checkpoint must be of this run's arguments and data
        backend = getattr(tokenizer, "backend_tokenizer", None)
        vocabulary = json.loads(backend.to_str()).get("model", {}).get("vocab") if backend is not None else None
        check_resume(resume, settings, model.config, vocabulary if isinstance(vocabulary, dict) else None)

    # Only now, with the arguments, data and model checked, does anything go into output_dir; every process has
    # checked the folder, and the previous run is gone, before any of them writes into it.
    if data_args.overwrite_output_dir and resume is None and not in_place and training_args.process_index == 0:
        if removed := clear_previous_run(output_dir):
            logger.info("--overwrite_output_dir: removed the previous run's %s", ", ".join(removed))
    training_args.distributed_state.wait_for_everyone()

    # 3. Trainer.
    compute_loss_func, weights = None, None
    if model_args.class_weights == "balanced":
        compute_loss_func, weights = class_weighted_loss(
            raw["train"]["label"], len(label_names), training_args.label_smoothing_factor
        )
        logger.info("class weights: %s", dict(zip(label_names, [round(w, 3) for w in weights])))
    callbacks = []
    if data_args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=data_args.early_stopping_patience))
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=data_args.pad_to_multiple_of or None)
    trainer_class, distillation_kwargs = TextClassificationTrainer, {}
    if distillation is not None:  # the teacher's logits go to the loss, never to the model
        trainer_class, collator = DistillationTrainer, DistillationCollator(collator)
        distillation_kwargs = {**distillation.trainer_kwargs(), "class_weights": weights}
    trainer = trainer_class(
        model=model,
        args=training_args,
        train_dataset=tokenized["transfer"] if distillation is not None else tokenized.get("train"),
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=build_compute_metrics(len(label_names), problem_type, threshold),
        compute_loss_func=compute_loss_func,
        callbacks=callbacks,
        optimizer_name=model_args.optimizer,
        momentum=model_args.momentum,
        layerwise_lr_decay=model_args.layerwise_lr_decay,
        adversarial_epsilon=model_args.adversarial_epsilon,
        run_settings=settings,
        **distillation_kwargs,
    )

    # 4. Train, keep the best checkpoint, evaluate on validation and test (each as --do_* says).
    if training_args.do_train:
        if resume is not None:
            logger.info("resuming from %s", resume)
        train_result = trainer.train(resume_from_checkpoint=resume)
        if model_args.finetune_strategy == "lora":
            # The adapter goes into adapter/; the merged model is what is saved at the top and evaluated below.
            merge_lora_into_trainer(trainer, output_dir / ADAPTER_DIR, absolute_if_local(checkpoint))
        trainer.save_model()
        trainer.save_state()  # trainer_state.json: the log history the curves and studies read
        if trainer.is_world_process_zero():  # the arguments as JSON, for people and for the model card
            # With what TrainingArguments does not hold: the checkpoint fine-tuned (None: trained from scratch), the
            # optimizer when --optimizer chose it (`optim` cannot name plain Adam), adversarial training (0: off) and
            # early stopping (None: off; on, num_train_epochs is only a cap).
            # The data flags tell the model card which results cover a whole Hub split. Local paths are made
            # absolute, so that they still read as paths (not Hub ids) from another working directory.
            arguments = {
                **training_args.to_dict(),
                "model_name_or_path": absolute_if_local(checkpoint),
                "model_description": spec.description,
                "dataset": absolute_if_local(data_args.dataset),
                "data_dir": absolute_if_local(data_args.data_dir),
                "text_column": data_args.text_column,
                "label_column": data_args.label_column,
                "problem_type": problem_type,
                "multi_label_threshold": threshold if problem_type == MULTI_LABEL else None,
                "max_eval_samples": data_args.max_eval_samples,
                "max_test_samples": data_args.max_test_samples,
                "optimizer": model_args.optimizer,
                "momentum": model_args.momentum if model_args.optimizer == "sgd_momentum" else None,
                "adversarial_epsilon": trainer.adversarial_epsilon,
                "glove_path": absolute_if_local(model_args.glove_path),
                "tfidf_weighting": model_args.tfidf_weighting,
                "early_stopping_patience": data_args.early_stopping_patience or None,
                # the teacher, its test accuracy and the distillation settings
                **(distillation.records if distillation is not None else {}),
            }
            atomic_write_text(output_dir / TRAINING_ARGS_FILE, json.dumps(arguments, indent=2) + "\n")
        metrics = {**train_result.metrics, "trainable_params": trainable_params, "total_params": total_params}
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)

    eval_metrics, test_metrics = {}, {}
    if training_args.do_eval:
        eval_metrics = trainer.evaluate(metric_key_prefix="eval")
        eval_metrics.update(split_coverage("eval", len(tokenized["validation"]), split_sizes["validation"]))
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)

    if training_args.do_predict:
        test_output = trainer.predict(tokenized["test"], metric_key_prefix="test")
        test_metrics = test_output.metrics
        test_metrics.update(split_coverage("test", len(tokenized["test"]), split_sizes["test"]))
        if distillation is not None:  # beside the student's, on the same test texts
            test_metrics["teacher_test_accuracy"] = distillation.teacher_test_accuracy
        trainer.log_metrics("test", test_metrics)
        trainer.save_metrics("test", test_metrics)

    if trainer.is_world_process_zero():
        if training_args.do_predict:
            write_run_reports(
                training_args.output_dir,
                label_names=label_names,
                texts=raw["test"]["text"],
                labels=test_output.label_ids,
                logits=test_output.predictions,
                log_history=trainer.state.log_history,
                problem_type=problem_type,
                threshold=threshold,
            )
        if eval_metrics or test_metrics:
            print(format_summary({**eval_metrics, **test_metrics}))
        if training_args.do_train:
            write_model_card(
                training_args.output_dir,
                repo_id=hub_repo_id,
                base_model=checkpoint,
                **dataset_card_arguments(data_config),
                keep_previous=False,  # this run is the card's whole truth
            )
        if training_args.do_train and not data_args.keep_checkpoints and (removed := remove_checkpoints(output_dir)):
            logger.info(
                "removed %s (the best model is in %s; --keep_checkpoints keeps them)", ", ".join(removed), output_dir
            )
    logger.info("results in %s", output_dir)
    if hub_repo_id is not None and trainer.is_world_process_zero():
        url = push_to_hub(
            training_args.output_dir, hub_repo_id, private=bool(training_args.hub_private_repo), token=hub_token
        )
        logger.info("uploaded to %s", url)


if __name__ == "__main__":
    main()
