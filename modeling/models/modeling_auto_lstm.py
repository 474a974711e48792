"""Auto-LSTM text classifier: an LSTM encoder-decoder whose decoder rebuilds the input from the encoder state."""

import torch
from torch import nn

from .configuration_auto_lstm import AutoLSTMConfig
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


class AutoLSTMModel(RNNPreTrainedModel):
    """
    The encoder's final state is the pooled output the classifier reads. In training, a decoder LSTM is fed that
    state at every step and must rebuild the input embeddings; its masked mean squared error, times
    `config.reconstruction_weight`, is returned as `auxiliary_loss`. At inference the decoder is skipped.
    """

    config_class = AutoLSTMConfig

    def __init__(self, config: AutoLSTMConfig):
        super().__init__(config)
        self.embeddings = TokenEmbedding(config)
        self.rnn = stacked_rnn(config, config.embedding_dim)
        self.decoder = nn.LSTM(config.output_size, config.hidden_size, batch_first=True)
        self.reconstruction = nn.Linear(config.hidden_size, config.embedding_dim)
        self.post_init()

    def forward(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> RNNModelOutput:
        attention_mask = default_attention_mask(input_ids, attention_mask)  # (batch, seq_len)
        embeddings = self.embeddings(input_ids)  # (batch, seq_len, embedding_dim)
        outputs, state = run_rnn(self.rnn, embeddings, attention_mask)  # (batch, seq_len, hidden * directions)
        pooled = last_layer_state(state, self.rnn)  # (batch, hidden * directions)

        auxiliary_loss = None
        if self.training and self.config.reconstruction_weight > 0:
            decoder_inputs = pooled.unsqueeze(1).expand(-1, input_ids.size(1), -1)  # (batch, seq_len, H * dirs)
            decoded, _ = run_rnn(self.decoder, decoder_inputs, attention_mask)  # (batch, seq_len, hidden)
            rebuilt = self.reconstruction(decoded)  # (batch, seq_len, embedding_dim)
            # The target is detached: the embeddings learn from the task, not by shrinking to ease reconstruction.
            error = (rebuilt - embeddings.detach()).pow(2).mean(-1)  # (batch, seq_len)
            mask = attention_mask.to(error.dtype)
            auxiliary_loss = self.config.reconstruction_weight * (error * mask).sum() / mask.sum().clamp(min=1)
        return RNNModelOutput(last_hidden_state=outputs, pooler_output=pooled, auxiliary_loss=auxiliary_loss)


class AutoLSTMForSequenceClassification(RNNForSequenceClassification):
    config_class = AutoLSTMConfig
    base_model_class = AutoLSTMModel
