"""Configuration of the encoder-decoder Auto-LSTM classifier."""

from .configuration_rnn_utils import RNNClassifierConfig


class AutoLSTMConfig(RNNClassifierConfig):
    r"""
    Configuration of [`AutoLSTMForSequenceClassification`]: an LSTM encoder whose final state feeds the classifier,
    and an LSTM decoder that rebuilds the input embeddings from that state. Takes every argument of
    [`RNNClassifierConfig`], plus:

    Args:
        reconstruction_weight (`float`, *optional*, defaults to 0.1):
            Weight of the reconstruction (mean squared error) loss added to the classification loss. 0 trains the
            classifier alone, as the original notebooks did.
    """

    model_type = "auto_lstm"

    def __init__(self, reconstruction_weight: float = 0.1, **kwargs):
        self.reconstruction_weight = reconstruction_weight
        super().__init__(**kwargs)
