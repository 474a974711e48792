"""Configuration of the attention BiLSTM classifier."""

from .configuration_rnn_utils import RNNClassifierConfig


class AttnBiLSTMConfig(RNNClassifierConfig):
    r"""
    Configuration of [`AttnBiLSTMForSequenceClassification`]: embedding, stacked bidirectional LSTM, additive
    attention over time (masked at padding), and a classifier on the attention-weighted sum. Takes every argument of
    [`RNNClassifierConfig`] (with `num_layers=2`, `bidirectional=True` and `dropout=0.5` by default), plus:

    Args:
        attention_dim (`int`, *optional*, defaults to 128):
            Width of the additive attention's hidden layer: `score_t = v . tanh(W h_t + b)`.
    """

    model_type = "attn_bilstm"

    def __init__(
        self, attention_dim: int = 128, num_layers: int = 2, bidirectional: bool = True, dropout: float = 0.5, **kwargs
    ):
        self.attention_dim = attention_dim
        super().__init__(num_layers=num_layers, bidirectional=bidirectional, dropout=dropout, **kwargs)
