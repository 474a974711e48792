"""LSTM (and GRU / plain RNN) text classifier: embedding, stacked recurrent layers, final hidden state."""

import torch

from .configuration_lstm import LSTMConfig
from .modeling_rnn_utils import (
    RNNForSequenceClassification,
    RNNModelOutput,
    RNNPreTrainedModel,
    TokenEmbedding,
    default_attention_mask,
    last_layer_state,
    run_rnn,
    stacked_rnn,
)


class LSTMModel(RNNPreTrainedModel):
    """The encoder: its pooled output is the top layer's final hidden state (both directions if bidirectional)."""

    config_class = LSTMConfig

    def __init__(self, config: LSTMConfig):
        super().__init__(config)
        self.embeddings = TokenEmbedding(config)
        self.rnn = stacked_rnn(config, config.embedding_dim, config.cell_type)
        self.post_init()

    def forward(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> RNNModelOutput:
        attention_mask = default_attention_mask(input_ids, attention_mask)  # (batch, seq_len)
        embeddings = self.embeddings(input_ids)  # (batch, seq_len, embedding_dim)
        outputs, state = run_rnn(self.rnn, embeddings, attention_mask)  # (batch, seq_len, hidden * directions)
        return RNNModelOutput(last_hidden_state=outputs, pooler_output=last_layer_state(state, self.rnn))


class LSTMForSequenceClassification(RNNForSequenceClassification):
    config_class = LSTMConfig
    base_model_class = LSTMModel
