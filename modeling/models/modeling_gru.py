"""GRU text classifier: the LSTM classifier's architecture with GRU cells."""

from .configuration_gru import GRUConfig
from .modeling_lstm import LSTMForSequenceClassification, LSTMModel


class GRUModel(LSTMModel):
    config_class = GRUConfig


class GRUForSequenceClassification(LSTMForSequenceClassification):
    config_class = GRUConfig
    base_model_class = GRUModel
