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


class NgramBag(nn.Module):
    """
    A fastText-style bag of n-grams (Joulin et al. 2017): the mean embedding of a text's words and of its word
    n-grams up to `config.ngram_order`, each n-gram hashed into one of `config.ngram_buckets` shared rows. Word
    order beyond n-grams is lost; what it adds beside the BiLSTM is a direct view of every phrase in the text,
    which TF-IDF and linear models show is strong evidence on long reviews.
    """

    hash_multiplier = 1_000_003  # a prime, so that (a, b) and (b, a) land in different buckets

    def __init__(self, config: AttnBiLSTMConfig):
        super().__init__()
        self.vocab_size, self.order, self.buckets = config.vocab_size, config.ngram_order, config.ngram_buckets
        self.pad_token_id = config.pad_token_id
        # Rows [0, vocab_size) are the words, the rest the hashed n-grams. `EmbeddingBag` averages each text's rows
        # without building the (batch, positions, dim) tensor, and leaves out every id equal to `padding_idx`.
        self.embeddings = nn.EmbeddingBag(
            config.vocab_size + config.ngram_buckets,
            config.ngram_embedding_dim,
            mode="mean",
            padding_idx=config.pad_token_id,
        )

    def forward(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor) -> torch.Tensor:
        ids, masks = [input_ids], [attention_mask]  # each (batch, positions)
        for n in range(2, self.order + 1):
            span = input_ids.size(1) - n + 1
            if span < 1:
                break
            hashed = torch.full_like(input_ids[:, :span], n)  # the order seeds the hash: "a b" and "a b c" differ
            mask = torch.ones_like(attention_mask[:, :span])
            for k in range(n):
                hashed = (hashed * self.hash_multiplier + input_ids[:, k : k + span]) % self.buckets
                mask = mask * attention_mask[:, k : k + span]  # an n-gram counts only if all its words are real
            ids.append(self.vocab_size + hashed)
            masks.append(mask)
        # Padding, and n-grams that reach into it, become the padding id, which the bag leaves out of the mean.
        ids = torch.cat(ids, dim=1).masked_fill(torch.cat(masks, dim=1) == 0, self.pad_token_id)
        if torch.onnx.is_in_onnx_export():
            # ONNX has no bag that leaves out an id: the same mean from a plain lookup (a Gather) and the mask.
            keep = (ids != self.pad_token_id).unsqueeze(-1).to(self.embeddings.weight.dtype)  # (batch, positions, 1)
            vectors = nn.functional.embedding(ids, self.embeddings.weight) * keep  # (batch, positions, dim)
            return vectors.sum(1) / keep.sum(1).clamp(min=1)
        return self.embeddings(ids)  # (batch, ngram_embedding_dim)


class AttnBiLSTMModel(RNNPreTrainedModel):
    """
    Embedding (optionally GloVe-initialised and TF-IDF-scaled) -> dropout -> BiLSTM -> additive attention
    `softmax_t(v . tanh(W h_t + b))`, masked at padding. The pooled output is the attention-weighted sum of the
    BiLSTM outputs, followed, with `pooling="attention_max"`, by their maximum over the real tokens;
    `output_attentions=True` also returns the weights, `(batch, seq_len)`. With `ngram_embedding_dim > 0` a
    bag of n-grams (`NgramBag`) is appended to the pooled output.
    """

    config_class = AttnBiLSTMConfig

    def __init__(self, config: AttnBiLSTMConfig):
        super().__init__(config)
        self.embeddings = TokenEmbedding(config)
        self.rnn = stacked_rnn(config, config.embedding_dim)
        self.attention_projection = nn.Linear(config.output_size, config.attention_dim)
        self.attention_vector = nn.Linear(config.attention_dim, 1, bias=False)
        self.ngram_bag = NgramBag(config) if config.ngram_embedding_dim > 0 else None
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
        if self.ngram_bag is not None:
            pooled = torch.cat([pooled, self.ngram_bag(input_ids, attention_mask)], dim=-1)  # (batch, pooled_size)
        return RNNModelOutput(
            last_hidden_state=outputs, pooler_output=pooled, attentions=(weights,) if output_attentions else None
        )


class AttnBiLSTMForSequenceClassification(RNNForSequenceClassification):
    config_class = AttnBiLSTMConfig
    base_model_class = AttnBiLSTMModel
