"""Configuration of the GRU classifier: the LSTM classifier with GRU cells."""

from .configuration_lstm import LSTMConfig


class GRUConfig(LSTMConfig):
    r"""
    Configuration of [`GRUForSequenceClassification`]. Same arguments as [`LSTMConfig`]; `cell_type` defaults to
    `"gru"`.
    """

    model_type = "gru"

    def __init__(self, cell_type: str = "gru", **kwargs):
        super().__init__(cell_type=cell_type, **kwargs)
