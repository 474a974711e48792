"""Recurrent text classifiers as transformers models, and the pieces `scripts/` builds on.

Importing this package registers every model type (`registry.py`) with `AutoConfig`, `AutoModel` and
`AutoModelForSequenceClassification`, and marks each recurrent class to be saved with its code, so a saved folder
also loads with `trust_remote_code=True` where this package is not installed.
"""

from .models.configuration_attn_bilstm import AttnBiLSTMConfig
from .models.configuration_auto_lstm import AutoLSTMConfig
from .models.configuration_cnn_lstm import CNNLSTMConfig
from .models.configuration_gru import GRUConfig
from .models.configuration_lstm import LSTMConfig
from .models.configuration_rnn_utils import RNNClassifierConfig
from .models.modeling_attn_bilstm import AttnBiLSTMForSequenceClassification, AttnBiLSTMModel
from .models.modeling_auto_lstm import AutoLSTMForSequenceClassification, AutoLSTMModel
from .models.modeling_cnn_lstm import CNNLSTMForSequenceClassification, CNNLSTMModel
from .models.modeling_gru import GRUForSequenceClassification, GRUModel
from .models.modeling_lstm import LSTMForSequenceClassification, LSTMModel
from .models.modeling_rnn_utils import RNNForSequenceClassification, RNNPreTrainedModel
from .registry import MODEL_SPECS, create_model, get_model_spec

__all__ = [
    "MODEL_SPECS",
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
    "create_model",
    "get_model_spec",
]
