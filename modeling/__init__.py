"""Recurrent text classifiers as transformers models, and the pieces `scripts/` builds on.

Importing this package registers every architecture with `AutoConfig`, `AutoModel` and
`AutoModelForSequenceClassification`, and marks each class to be saved with its code, so a saved folder also loads
with `trust_remote_code=True` where this package is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .configuration_attn_bilstm import AttnBiLSTMConfig
from .configuration_auto_lstm import AutoLSTMConfig
from .configuration_cnn_lstm import CNNLSTMConfig
from .configuration_gru import GRUConfig
from .configuration_lstm import LSTMConfig
from .configuration_rnn_utils import RNNClassifierConfig
from .modeling_attn_bilstm import AttnBiLSTMForSequenceClassification, AttnBiLSTMModel
from .modeling_auto_lstm import AutoLSTMForSequenceClassification, AutoLSTMModel
from .modeling_cnn_lstm import CNNLSTMForSequenceClassification, CNNLSTMModel
from .modeling_gru import GRUForSequenceClassification, GRUModel
from .modeling_lstm import LSTMForSequenceClassification, LSTMModel
from .modeling_rnn_utils import RNNForSequenceClassification, RNNPreTrainedModel

# (config, encoder, classifier) for every recurrent architecture; adding one means adding a row here.
RNN_ARCHITECTURES = (
    (LSTMConfig, LSTMModel, LSTMForSequenceClassification),
    (GRUConfig, GRUModel, GRUForSequenceClassification),
    (CNNLSTMConfig, CNNLSTMModel, CNNLSTMForSequenceClassification),
    (AutoLSTMConfig, AutoLSTMModel, AutoLSTMForSequenceClassification),
    (AttnBiLSTMConfig, AttnBiLSTMModel, AttnBiLSTMForSequenceClassification),
)

for _config, _encoder, _classifier in RNN_ARCHITECTURES:
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _encoder, exist_ok=True)
    AutoModelForSequenceClassification.register(_config, _classifier, exist_ok=True)
    _config.register_for_auto_class()
    _encoder.register_for_auto_class("AutoModel")
    _classifier.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "RNN_ARCHITECTURES",
    "AttnBiLSTMConfig",
    "AttnBiLSTMForSequenceClassification",
    "AttnBiLSTMModel",
    "AutoLSTMConfig",
    "AutoLSTMForSequenceClassification",
    "AutoLSTMModel",
    "CNNLSTMConfig",
    "CNNLSTMForSequenceClassification",
    "CNNLSTMModel",
    "GRUConfig",
    "GRUForSequenceClassification",
    "GRUModel",
    "LSTMConfig",
    "LSTMForSequenceClassification",
    "LSTMModel",
    "RNNClassifierConfig",
    "RNNForSequenceClassification",
    "RNNPreTrainedModel",
]
