#!/usr/bin/env python
"""Train any model type of this project on any dataset config with the transformers Trainer.

    python scripts/train.py --model_type attn_bilstm --dataset tweet_sentiment --output_dir outputs/attn
    accelerate launch scripts/train.py --model_type attn_bilstm --dataset 20newsgroups
    python scripts/train.py --model_type distilbert --model_name_or_path DIR --finetune_strategy hybrid ...

Every TrainingArguments flag works too (`--help` lists them all); a JSON file of arguments can replace the flags.
The run leaves in --output_dir the best model (by --metric_for_best_model, macro-F1 unless told otherwise) with its
tokenizer and config, `all_results.json`, the test predictions and the reports described in README.md.
"""

import json
import logging
from pathlib import Path

import transformers
from datasets import Dataset
from transformers import (
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PreTrainedTokenizerBase,
    set_seed,
)

from modeling.arguments import ModelArguments, parse_args
from modeling.data import load_data_config, load_splits, tokenize_splits, train_word_tokenizer
from modeling.data.word_vectors import read_glove_vectors, tfidf_token_weights
from modeling.errors import cli_entry_point
from modeling.hub import check_repo_id, push_to_hub
from modeling.metrics import build_compute_metrics
from modeling.registry import create_model
from modeling.reporting import dataset_card_arguments, format_summary, write_model_card, write_run_reports
from modeling.run_folder import (
    TRAINING_ARGS_FILE,
    check_output_dir,
    clear_previous_run,
    remove_checkpoints,
    resolve_resume,
)
from modeling.training import TextClassificationTrainer, apply_finetune_strategy, class_weighted_loss, count_parameters

logger = logging.getLogger("train")


def absolute_if_local(name: str | None) -> str | None:
    """`name` as an absolute path when it is a local file or folder; a Hub id (or None) as it is."""
    return str(Path(name).resolve()) if name is not None and Path(name).exists() else name


def build_tokenizer(
    model_args: ModelArguments, checkpoint: str | None, train: Dataset, max_length: int
) -> PreTrainedTokenizerBase:
    """
    The pretrained tokenizer, or a word-level one trained on the training texts. Every process trains its own
    (the same texts give the same vocabulary), so nothing is written into output_dir before training starts.
    """
    name = model_args.tokenizer_name or checkpoint
    if name is not None:
        tokenizer = AutoTokenizer.from_pretrained(name)
        if checkpoint is None:  # a recurrent model: it reads each text's tokens from the left of its row
            tokenizer.padding_side = "right"
        return tokenizer
    return train_word_tokenizer(
        (batch["text"] for batch in train.iter(batch_size=1000)),
        vocab_size=model_args.vocab_size,
        min_frequency=model_args.min_frequency,
        clean_markup=model_args.clean_markup,
        model_max_length=max_length,
    )


@cli_entry_point
def main() -> None:
    model_args, data_args, training_args = parse_args(__doc__)
    spec = model_args.spec
    output_dir = Path(training_args.output_dir)
    check_output_dir(output_dir, data_args.overwrite_output_dir, training_args.resume_from_checkpoint is not None)
    resume = resolve_resume(training_args.resume_from_checkpoint, output_dir)
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

    data_config = load_data_config(data_args.dataset)
    max_length = data_args.max_length or data_config.max_length
    truncation = data_args.truncation or data_config.truncation
    checkpoint = (model_args.model_name_or_path or spec.default_checkpoint) if spec.is_pretrained else None

    # 1. Data: read, label and split once; tokenise once (the other processes wait, then read the cache).
    with training_args.main_process_first(desc="loading the dataset"):
        raw = load_splits(data_config, data_args.data_dir, seed=training_args.seed)
    for split, limit in (
        ("train", data_args.max_train_samples),
        ("validation", data_args.max_eval_samples),
        ("test", data_args.max_test_samples),
    ):
        if limit is not None:
            classes = len(set(raw[split]["label"]))
            raw[split] = raw[split].select(range(min(limit, len(raw[split]))))
            kept = len(set(raw[split]["label"]))
            if kept < classes:
                # A source stored sorted by label (the Hub's IMDB) gives a first N of one class.
                logger.warning(
                    "the first %d %s rows hold %d of the split's %d classes; is the source sorted by label? "
                    "Shuffle its files, or use more rows",
                    len(raw[split]), split, kept, classes,
                )  # fmt: skip
    label_names = raw["train"].features["label"].names
    logger.info("dataset %s: %s rows, labels %s", data_config.name, {k: len(v) for k, v in raw.items()}, label_names)

    tokenizer = build_tokenizer(model_args, checkpoint, raw["train"], max_length)
    with training_args.main_process_first(desc="tokenisation"):
        tokenized = tokenize_splits(raw, tokenizer, max_length, truncation)

    # 2. Model.
    model = create_model(
        spec,
        label_names,
        checkpoint=checkpoint,
        tokenizer=tokenizer,
        config_overrides=model_args.overrides,
        use_token_weights=model_args.tfidf_weighting,
        freeze_embeddings=model_args.freeze_embeddings,
    )
    model.config.text_truncation = truncation  # saved with the model: predict and evaluate cut alike
    if model_args.glove_path:
        vectors, found = read_glove_vectors(
            model_args.glove_path, tokenizer.get_vocab(), model.get_input_embeddings().weight
        )
        model.load_pretrained_embeddings(vectors)
        logger.info("GloVe: %d of %d vocabulary words found in %s", found, len(tokenizer), model_args.glove_path)
    if model_args.tfidf_weighting:
        model.set_token_weights(tfidf_token_weights(tokenized["train"]["input_ids"], model.config.vocab_size))
    model = apply_finetune_strategy(
        model, model_args.finetune_strategy, model_args.unfreeze_top_k, model_args.lora_r, model_args.lora_alpha
    )
    trainable_params, total_params = count_parameters(model)
    logger.info("parameters: %s trainable of %s", f"{trainable_params:,}", f"{total_params:,}")

    # Only now, with the arguments, data and model checked, does anything go into output_dir; every process has
    # checked the folder, and the previous run is gone, before any of them writes into it.
    if data_args.overwrite_output_dir and resume is None and training_args.process_index == 0:
        if removed := clear_previous_run(output_dir):
            logger.info("--overwrite_output_dir: removed the previous run's %s", ", ".join(removed))
    training_args.distributed_state.wait_for_everyone()

    # 3. Trainer.
    compute_loss_func = None
    if model_args.class_weights == "balanced":
        compute_loss_func, weights = class_weighted_loss(
            tokenized["train"]["label"], len(label_names), training_args.label_smoothing_factor
        )
        logger.info("class weights: %s", dict(zip(label_names, [round(w, 3) for w in weights])))
    callbacks = []
    if data_args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=data_args.early_stopping_patience))
    trainer = TextClassificationTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=data_args.pad_to_multiple_of or None),
        compute_metrics=build_compute_metrics(len(label_names)),
        compute_loss_func=compute_loss_func,
        callbacks=callbacks,
        optimizer_name=model_args.optimizer,
        momentum=model_args.momentum,
        layerwise_lr_decay=model_args.layerwise_lr_decay,
        adversarial_epsilon=model_args.adversarial_epsilon,
    )

    # 4. Train, keep the best checkpoint, evaluate on validation and test.
    if resume is not None:
        logger.info("resuming from %s", resume)
    train_result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    if model_args.finetune_strategy == "lora":  # the adapter folder also keeps the labels of the task head
        trainer.model.get_base_model().config.save_pretrained(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the log history the curves and studies read
    if trainer.is_world_process_zero():  # the arguments as JSON, for people and for the model card
        # With what TrainingArguments does not hold: the checkpoint fine-tuned (None: trained from scratch), the
        # optimizer when --optimizer chose it (`optim` cannot name plain Adam), adversarial training (0: off) and early
        # stopping (None: off; on, num_train_epochs is only a cap).
        # The data flags tell the model card which results cover a whole Hub split. Local paths are made absolute,
        # so that they still read as paths (not Hub ids) from another working directory.
        arguments = {
            **training_args.to_dict(),
            "model_name_or_path": absolute_if_local(checkpoint),
            "model_description": spec.description,
            "dataset": absolute_if_local(data_args.dataset),
            "data_dir": absolute_if_local(data_args.data_dir),
            "max_eval_samples": data_args.max_eval_samples,
            "max_test_samples": data_args.max_test_samples,
            "optimizer": model_args.optimizer,
            "momentum": model_args.momentum if model_args.optimizer == "sgd_momentum" else None,
            "adversarial_epsilon": trainer.adversarial_epsilon,
            "early_stopping_patience": data_args.early_stopping_patience or None,
        }
        (output_dir / TRAINING_ARGS_FILE).write_text(json.dumps(arguments, indent=2) + "\n")
    metrics = {**train_result.metrics, "trainable_params": trainable_params, "total_params": total_params}
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)

    eval_metrics = trainer.evaluate(metric_key_prefix="eval")
    trainer.log_metrics("eval", eval_metrics)
    trainer.save_metrics("eval", eval_metrics)

    test_output = trainer.predict(tokenized["test"], metric_key_prefix="test")
    trainer.log_metrics("test", test_output.metrics)
    trainer.save_metrics("test", test_output.metrics)

    if trainer.is_world_process_zero():
        if model_args.finetune_strategy == "lora" and model_args.merge_lora:
            merged = trainer.model.merge_and_unload()
            merged.save_pretrained(output_dir / "merged")
            tokenizer.save_pretrained(output_dir / "merged")
        write_run_reports(
            training_args.output_dir,
            label_names=label_names,
            texts=raw["test"]["text"],
            labels=test_output.label_ids,
            logits=test_output.predictions,
            log_history=trainer.state.log_history,
        )
        print(format_summary({**eval_metrics, **test_output.metrics}))
        write_model_card(
            training_args.output_dir,
            repo_id=hub_repo_id,
            base_model=checkpoint,
            **dataset_card_arguments(data_config),
            keep_previous=False,  # this run is the card's whole truth
        )
        if not data_args.keep_checkpoints and (removed := remove_checkpoints(output_dir)):
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
