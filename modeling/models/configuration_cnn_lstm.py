"""Configuration of the CNN-LSTM classifier."""

from .configuration_rnn_utils import RNNClassifierConfig


class CNNLSTMConfig(RNNClassifierConfig):
    r"""
    Configuration of [`CNNLSTMForSequenceClassification`]: embedding, parallel Conv1d n-gram detectors, an LSTM over
    their features, and a classifier on its final state. Takes every argument of [`RNNClassifierConfig`], plus:

    Args:
        kernel_sizes (`list[int]`, *optional*, defaults to `[3, 5]`):
            Widths, in tokens, of the convolution filters; one Conv1d per width.
        num_filters (`int`, *optional*, defaults to 128):
            Filters per width; the LSTM reads `len(kernel_sizes) * num_filters` features per token.
    """

    model_type = "cnn_lstm"
    tiny_settings = {**RNNClassifierConfig.tiny_settings, "num_filters": 8}

    def __init__(self, kernel_sizes: list[int] | tuple[int, ...] = (3, 5), num_filters: int = 128, **kwargs):
        self.kernel_sizes = list(kernel_sizes)
        self.num_filters = num_filters
        super().__init__(**kwargs)
