"""CNN-LSTM text classifier: Conv1d n-gram features, read in order by an LSTM."""

import torch
from torch import nn

from .configuration_cnn_lstm import CNNLSTMConfig
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
from .rnn_kernels import Dropout


class CNNLSTMModel(RNNPreTrainedModel):
    """
    Embedding -> one Conv1d per kernel size (ReLU, 'same' length) -> concatenated features -> LSTM. The pooled output
    is the LSTM's final hidden state.
    """

    config_class = CNNLSTMConfig

    def __init__(self, config: CNNLSTMConfig):
        super().__init__(config)
        self.embeddings = TokenEmbedding(config)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.num_filters, kernel_size, padding="same")
            for kernel_size in config.kernel_sizes
        )
        self.dropout = Dropout(config.dropout)
        self.rnn = stacked_rnn(config, config.num_filters * len(config.kernel_sizes))
        self.post_init()

    def forward(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> RNNModelOutput:
        attention_mask = default_attention_mask(input_ids, attention_mask)  # (batch, seq_len)
        # Zero the padding so a filter at the end of a text sees what Conv1d's own zero padding would give.
        embeddings = self.embeddings(input_ids) * attention_mask.unsqueeze(-1)  # (batch, seq_len, embedding_dim)
        embeddings = embeddings.transpose(1, 2)  # (batch, embedding_dim, seq_len)
        features = torch.cat([torch.relu(conv(embeddings)) for conv in self.convs], dim=1)  # (batch, K*F, seq_len)
        features = self.dropout(features.transpose(1, 2))  # (batch, seq_len, K*F)
        outputs, state = run_rnn(self.rnn, features, attention_mask)  # (batch, seq_len, hidden * directions)
        return RNNModelOutput(last_hidden_state=outputs, pooler_output=last_layer_state(state, self.rnn))


class CNNLSTMForSequenceClassification(RNNForSequenceClassification):
    config_class = CNNLSTMConfig
    base_model_class = CNNLSTMModel
