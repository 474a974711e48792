"""Configuration of the LSTM classifier (and, through `cell_type`, its GRU and plain-RNN variants)."""

from .configuration_rnn_utils import RNNClassifierConfig


class LSTMConfig(RNNClassifierConfig):
    r"""
    Configuration of [`LSTMForSequenceClassification`]: embedding, stacked recurrent layers, and a classifier on the
    final hidden state. Takes every argument of [`RNNClassifierConfig`], plus:

    Args:
        cell_type (`str`, *optional*, defaults to `"lstm"`):
            The recurrent cell: `"lstm"`, `"gru"` or `"rnn"` (Elman, tanh).
    """

    model_type = "lstm"
    cell_types = ("lstm", "gru", "rnn")

    def __init__(self, cell_type: str = "lstm", **kwargs):
        if cell_type not in self.cell_types:
            raise ValueError(f"cell_type must be one of {self.cell_types}, got {cell_type!r}")
        self.cell_type = cell_type
        super().__init__(**kwargs)
