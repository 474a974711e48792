"""Data: dataset configs, loading and splitting, tokenisation and the cut to max_length, word vectors."""

from .config import DATA_CONFIG_DIR, SPLITS, DataConfig, available_datasets, load_data_config, override_columns
from .loading import check_training_classes, label_names_of, load_splits
from .tokenization import (
    DEFAULT_VOCAB_SIZE,
    TRUNCATION_STRATEGIES,
    check_truncation,
    encode_texts,
    keep_head_and_tail,
    saved_truncation,
    tokenize_splits,
    train_word_tokenizer,
)

__all__ = [
    "DATA_CONFIG_DIR",
    "DEFAULT_VOCAB_SIZE",
    "SPLITS",
    "TRUNCATION_STRATEGIES",
    "DataConfig",
    "available_datasets",
    "check_training_classes",
    "check_truncation",
    "encode_texts",
    "keep_head_and_tail",
    "label_names_of",
    "load_data_config",
    "load_splits",
    "override_columns",
    "saved_truncation",
    "tokenize_splits",
    "train_word_tokenizer",
]
