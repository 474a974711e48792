"""The tokenizer and the model a training run starts from, built from its arguments.

`scripts/train.py` builds them once per run; a hyperparameter search (`search.py`) once per trial, from the same
functions, so that a trial trains what `train.py` would train with its settings.
"""

import logging

import torch
from datasets import Dataset
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .arguments import ModelArguments
from .data import train_word_tokenizer
from .data.word_vectors import read_glove_vectors
from .problem_types import MULTI_LABEL, SINGLE_LABEL
from .registry import ModelSpec, create_model, load_pretrained
from .training import apply_finetune_strategy

logger = logging.getLogger(__name__)

GloveRows = tuple[torch.Tensor, torch.Tensor]  # (vectors (vocab_size, dim), found (vocab_size,) bool)


def build_tokenizer(
    model_args: ModelArguments,
    checkpoint: str | None,
    train: Dataset,
    max_length: int,
    vocab_size: int | None = None,
) -> PreTrainedTokenizerBase:
    """
    The pretrained tokenizer, or a word-level one of `vocab_size` words (default: --vocab_size) trained on the
    training texts. Every process trains its own (the same texts give the same vocabulary), so nothing is written
    into output_dir before training starts.
    """
    name = model_args.tokenizer_name or checkpoint
    if name is not None:
        flag = "--tokenizer_name" if model_args.tokenizer_name else "--model_name_or_path"
        tokenizer = load_pretrained(lambda: AutoTokenizer.from_pretrained(name), name, flag)
        tokenizer.model_max_length = max_length  # saved with it: inference cuts at the length trained with
        if checkpoint is None:  # a recurrent model: it reads each text's tokens from the left of its row
            tokenizer.padding_side = "right"
        return tokenizer
    return train_word_tokenizer(
        (batch["text"] for batch in train.iter(batch_size=1000)),
        vocab_size=vocab_size or model_args.vocab_size,
        min_frequency=model_args.min_frequency,
        clean_markup=model_args.clean_markup,
        model_max_length=max_length,
    )


def read_glove_rows(path: str, tokenizer: PreTrainedTokenizerBase, embedding_dim: int) -> GloveRows:
    """The GloVe vectors of `tokenizer`'s words, and which words the file holds (read once, used by every model)."""
    # NaN marks the rows of the words the file lacks; each model keeps its own initial vectors there.
    initial = torch.full((len(tokenizer), embedding_dim), float("nan"))
    vectors, _ = read_glove_vectors(path, tokenizer.get_vocab(), initial)
    return vectors, ~vectors.isnan().any(dim=1)


def build_model(
    spec: ModelSpec,
    model_args: ModelArguments,
    label_names: list[str],
    *,
    checkpoint: str | None,
    tokenizer: PreTrainedTokenizerBase,
    truncation: str,
    problem_type: str = SINGLE_LABEL,
    threshold: float | None = None,
    config_settings: dict | None = None,
    token_weights: torch.Tensor | None = None,
    glove: GloveRows | None = None,
) -> PreTrainedModel:
    """
    The model to train: `spec`'s model for `label_names` (from `checkpoint`, or new for `tokenizer`'s vocabulary
    with --config_overrides and then `config_settings`), with the GloVe vectors of --glove_path (`glove`, when read
    already), the TF-IDF `token_weights`, and --finetune_strategy applied. The config keeps the cut and the
    multi-label threshold, so that predict and evaluate cut and threshold alike.
    """
    model = create_model(
        spec,
        label_names,
        checkpoint=checkpoint,
        tokenizer=tokenizer,
        config_overrides={**model_args.overrides, **(config_settings or {})},
        problem_type=problem_type,
        use_token_weights=model_args.tfidf_weighting,
        freeze_embeddings=model_args.freeze_embeddings,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
    )
    model.config.text_truncation = truncation
    if problem_type == MULTI_LABEL:
        model.config.multi_label_threshold = threshold
    if model_args.glove_path:
        embeddings = model.get_input_embeddings().weight
        vectors, found = glove or read_glove_rows(model_args.glove_path, tokenizer, embeddings.size(1))
        model.load_pretrained_embeddings(torch.where(found[:, None], vectors, embeddings.detach()))
        logger.info("GloVe: %d of %d vocabulary words found in %s", found.sum(), len(found), model_args.glove_path)
    if token_weights is not None:
        model.set_token_weights(token_weights)
    return apply_finetune_strategy(
        model, model_args.finetune_strategy, model_args.unfreeze_top_k, model_args.lora_r, model_args.lora_alpha
    )
