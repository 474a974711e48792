"""Attention BiLSTM text classifier: stacked BiLSTM, additive attention over time, classifier."""

import torch
from torch import nn

from .configuration_attn_bilstm import AttnBiLSTMConfig
from .modeling_rnn_utils import (
    RNNForSequenceClassification,
    RNNModelOutput,
    RNNPreTrainedModel,
    TokenEmbedding,
    default_attention_mask,
    run_rnn,
    stacked_rnn,
)


class AttnBiLSTMModel(RNNPreTrainedModel):
    """
    Embedding (optionally GloVe-initialised and TF-IDF-scaled) -> dropout -> BiLSTM -> additive attention
    `softmax_t(v . tanh(W h_t + b))`, masked at padding. The pooled output is the attention-weighted sum of the
    BiLSTM outputs, followed, with `pooling="attention_max"`, by their maximum over the real tokens;
    `output_attentions=True` also returns the weights, `(batch, seq_len)`.
    """

    config_class = AttnBiLSTMConfig

    def __init__(self, config: AttnBiLSTMConfig):
        super().__init__(config)
        self.embeddings = TokenEmbedding(config)
        self.rnn = stacked_rnn(config, config.embedding_dim)
        self.attention_projection = nn.Linear(config.output_size, config.attention_dim)
        self.attention_vector = nn.Linear(config.attention_dim, 1, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> RNNModelOutput:
        attention_mask = default_attention_mask(input_ids, attention_mask)  # (batch, seq_len)
        embeddings = self.embeddings(input_ids)  # (batch, seq_len, embedding_dim)
        outputs, _ = run_rnn(self.rnn, embeddings, attention_mask)  # (batch, seq_len, 2 * hidden)

        scores = self.attention_vector(torch.tanh(self.attention_projection(outputs))).squeeze(-1)  # (batch, seq_len)
        scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)  # (batch, seq_len), exactly 0 at padding
        pooled = torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)  # (batch, 2 * hidden)
        if self.config.pooling == "attention_max":
            # The strongest feature anywhere in the text, beside the attention's weighted mean.
            real_outputs = outputs.masked_fill(attention_mask.unsqueeze(-1) == 0, torch.finfo(outputs.dtype).min)
            pooled = torch.cat([pooled, real_outputs.amax(dim=1)], dim=-1)  # (batch, 4 * hidden)
        return RNNModelOutput(
            last_hidden_state=outputs, pooler_output=pooled, attentions=(weights,) if output_attentions else None
        )


class AttnBiLSTMForSequenceClassification(RNNForSequenceClassification):
    config_class = AttnBiLSTMConfig
    base_model_class = AttnBiLSTMModel
