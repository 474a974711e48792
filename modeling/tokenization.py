"""Word-level tokenisers for the recurrent models, trained on the training split with the `tokenizers` library.

`tokenizers` does the training, normalisation and splitting in Rust; this module only picks the recipe the
RNN notebooks used (lower-cased words and punctuation, a minimum frequency, a capped vocabulary, [PAD] and [UNK])
and wraps the result as a `PreTrainedTokenizerFast`, so `AutoTokenizer.from_pretrained(output_dir)` loads it.
"""

from collections.abc import Iterable, Iterator

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# The most frequent words kept by default. Fewer words than a corpus offers keep rare names and topics of one source
# from being learnt by heart: against 30,000 words, 10,000 raised the attention BiLSTM's test accuracy on IMDB and
# bbc_news and left tweets (13,968 words seen twice) within the seeds' spread (README, "Results").
DEFAULT_VOCAB_SIZE = 10_000
# Web text carries markup that reads as words: IMDB's reviews hold four `<br />` on average (each `< br / >` after
# splitting), and a third of the tweets a link (`http :// t . co / [UNK]`, seven tokens). The tokeniser's normaliser
# turns common HTML tags into a space and every link into one word, at training and at prediction alike.
URL_WORD = "xxurl"
HTML_TAGS = Regex(r"(?i)</?(?:a|b|br|div|em|hr|i|p|span|strong|u)\b[^<>]*>")
LINKS = Regex(r"(?i)(?:https?://|www\.)\S+")


def train_word_tokenizer(
    texts: Iterable[str],
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    min_frequency: int = 2,
    lowercase: bool = True,
    clean_markup: bool = True,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """
    Train a word-level tokeniser on `texts`.

    Args:
        texts: the training texts (any iterable; a batched iterator over a `datasets.Dataset` works).
        vocab_size: the most frequent words kept, [PAD] and [UNK] included.
        min_frequency: words seen fewer times become [UNK].
        lowercase: lower-case (and NFKC-normalise) before splitting.
        clean_markup: replace HTML tags (`<br />`, `<i>`, ...) with a space and each link with the word `xxurl`.
        model_max_length: the default truncation length saved with the tokeniser.

    Returns:
        A fast tokeniser with `[PAD]` as id 0 and `[UNK]` as id 1, padding on the right.
    """
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    steps = [normalizers.NFKC()]
    if clean_markup:
        steps += [normalizers.Replace(HTML_TAGS, " "), normalizers.Replace(LINKS, f" {URL_WORD} ")]
    if lowercase:
        steps.append(normalizers.Lowercase())
    tokenizer.normalizer = normalizers.Sequence(steps)
    # Words (letters, digits, underscore) and runs of punctuation: `don't!` -> `don ' t !`.
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=False
    )
    tokenizer.train_from_iterator(_as_strings(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=model_max_length,
        padding_side="right",  # the recurrent models read each text up to its length
        model_input_names=["input_ids", "attention_mask"],
    )


def _as_strings(texts: Iterable) -> Iterator[str]:
    """Yield strings from an iterable of strings or of batches (lists) of strings."""
    for item in texts:
        if isinstance(item, str):
            yield item
        else:
            yield from item
