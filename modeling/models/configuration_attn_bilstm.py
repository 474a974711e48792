"""Configuration of the attention BiLSTM classifier."""

from .configuration_rnn_utils import RNNClassifierConfig


class AttnBiLSTMConfig(RNNClassifierConfig):
    r"""
    Configuration of [`AttnBiLSTMForSequenceClassification`]: embedding, stacked bidirectional LSTM, additive
    attention over time (masked at padding), and a classifier on the attention-weighted sum. Takes every argument of
    [`RNNClassifierConfig`] (with `num_layers=2`, `bidirectional=True`, `dropout=0.5` and `word_dropout=0.1` by
    default), plus:

    Args:
        attention_dim (`int`, *optional*, defaults to 128):
            Width of the additive attention's hidden layer: `score_t = v . tanh(W h_t + b)`.
        pooling (`str`, *optional*, defaults to `"attention_max"`):
            How the BiLSTM outputs become one text vector: `"attention"`, their attention-weighted sum, or
            `"attention_max"`, that sum concatenated with their maximum over the text's tokens (twice as wide).
        ngram_embedding_dim (`int`, *optional*, defaults to 0):
            When above 0, the pooled vector also holds a fastText-style bag of n-grams of this width: the mean
            embedding of the text's words and of its hashed word n-grams up to `ngram_order`. 0 leaves it out.
        ngram_order (`int`, *optional*, defaults to 2):
            The longest word n-gram the bag reads (2: words and word pairs).
        ngram_buckets (`int`, *optional*, defaults to 262144):
            Number of hash buckets the n-grams longer than one word share.
    """

    model_type = "attn_bilstm"
    tiny_settings = {**RNNClassifierConfig.tiny_settings, "attention_dim": 8}
    pooling_choices = ("attention", "attention_max")

    def __init__(
        self,
        attention_dim: int = 128,
        pooling: str = "attention_max",
        ngram_embedding_dim: int = 0,
        ngram_order: int = 2,
        ngram_buckets: int = 262144,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.5,
        word_dropout: float = 0.1,
        **kwargs,
    ):
        if pooling not in self.pooling_choices:
            raise ValueError(f"pooling must be one of {', '.join(self.pooling_choices)}, got {pooling!r}")
        if ngram_embedding_dim < 0 or ngram_order < 1 or ngram_buckets < 1:
            raise ValueError(
                "ngram_embedding_dim must be at least 0, ngram_order and ngram_buckets at least 1; got "
                f"{ngram_embedding_dim}, {ngram_order}, {ngram_buckets}"
            )
        self.attention_dim = attention_dim
        self.pooling = pooling
        self.ngram_embedding_dim = ngram_embedding_dim
        self.ngram_order = ngram_order
        self.ngram_buckets = ngram_buckets
        super().__init__(
            num_layers=num_layers, bidirectional=bidirectional, dropout=dropout, word_dropout=word_dropout, **kwargs
        )

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs) -> "AttnBiLSTMConfig":
        # A folder saved before `pooling` existed pooled by attention alone: load it as it was trained.
        if "pooling" not in config_dict:
            config_dict = {**config_dict, "pooling": "attention"}
        return super().from_dict(config_dict, **kwargs)

    @property
    def pooled_size(self) -> int:
        return self.output_size * (2 if self.pooling == "attention_max" else 1) + self.ngram_embedding_dim
