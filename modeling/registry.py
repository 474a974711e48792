"""Every `--model_type`: how it is built and the training defaults that suit it.

A recurrent type is built from its config class with a vocabulary trained on the data; a pretrained type is
loaded by name with `from_pretrained`. Scripts look a type up here and never branch on its name, so adding a
model type means adding a row.
"""

from dataclasses import dataclass, field

from transformers import PretrainedConfig

from . import AttnBiLSTMConfig, AutoLSTMConfig, CNNLSTMConfig, GRUConfig, LSTMConfig
from .errors import UserInputError

# Training defaults of each family; a flag given on the command line always wins.
RNN_TRAINING_DEFAULTS = {
    "learning_rate": 2e-3,
    "num_train_epochs": 4,
    "label_smoothing_factor": 0.1,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 256,
    "warmup_steps": 0.05,
    "weight_decay": 0.0,
}
TRANSFORMER_TRAINING_DEFAULTS = {
    "learning_rate": 5e-5,
    "num_train_epochs": 3,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 128,
    "warmup_steps": 0.06,
    "weight_decay": 0.01,
}

# With less of the model training, a larger step suits: a frozen encoder leaves only the head, LoRA only small
# adapters. Applied on top of the transformer defaults; a flag given on the command line still wins.
FINETUNE_STRATEGY_DEFAULTS = {
    "freeze": {"learning_rate": 1e-3},
    "lora": {"learning_rate": 5e-4},
}


@dataclass(frozen=True)
class ModelSpec:
    """How to build one model type."""

    model_type: str
    description: str
    config_class: type[PretrainedConfig] | None = None  # recurrent: built from this config
    default_checkpoint: str | None = None  # pretrained: loaded from this hub id unless --model_name_or_path
    training_defaults: dict = field(default_factory=dict)

    @property
    def is_pretrained(self) -> bool:
        return self.config_class is None


MODEL_SPECS = {
    spec.model_type: spec
    for spec in (
        ModelSpec("lstm", "embedding, LSTM, classifier on the final state", LSTMConfig, None, RNN_TRAINING_DEFAULTS),
        ModelSpec("gru", "embedding, GRU, classifier on the final state", GRUConfig, None, RNN_TRAINING_DEFAULTS),
        ModelSpec("cnn_lstm", "Conv1d n-gram features read by an LSTM", CNNLSTMConfig, None, RNN_TRAINING_DEFAULTS),
        ModelSpec(
            "auto_lstm", "LSTM encoder-decoder with a reconstruction loss", AutoLSTMConfig, None, RNN_TRAINING_DEFAULTS
        ),
        ModelSpec(
            "attn_bilstm",
            "BiLSTM with additive attention (GloVe, TF-IDF)",
            AttnBiLSTMConfig,
            None,
            RNN_TRAINING_DEFAULTS,
        ),
        ModelSpec(
            "distilbert", "pretrained DistilBERT", None, "distilbert-base-uncased", TRANSFORMER_TRAINING_DEFAULTS
        ),
        ModelSpec("bert", "pretrained BERT", None, "bert-base-uncased", TRANSFORMER_TRAINING_DEFAULTS),
    )
}


def get_model_spec(model_type: str) -> ModelSpec:
    """The spec of `model_type`, or a one-line error listing the choices."""
    if model_type not in MODEL_SPECS:
        raise UserInputError(f"unknown model type {model_type!r}; choose one of: {', '.join(MODEL_SPECS)}")
    return MODEL_SPECS[model_type]
