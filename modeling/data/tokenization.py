"""Tokenisation: word-level tokenisers for the recurrent models, and cutting texts to the length a model reads.

`tokenizers` does the training, normalisation and splitting in Rust; this module only picks the recipe the
RNN notebooks used (lower-cased words and punctuation, a minimum frequency, a capped vocabulary, [PAD] and [UNK])
and wraps the result as a `PreTrainedTokenizerFast`, so `AutoTokenizer.from_pretrained(output_dir)` loads it.
"""

from collections.abc import Iterable, Iterator

import datasets
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from ..errors import UserInputError

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# The most frequent words kept by default. Fewer words than a corpus offers keep rare names and topics of one source
# from being learnt by heart: against 30,000 words, 10,000 raised the attention BiLSTM's test accuracy on IMDB and
# bbc_news and left tweets (13,968 words seen twice) within the seeds' spread (docs/results.md).
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


# How a text longer than max_length is cut. "head_tail" keeps the first quarter of the budget from its start and the
# rest from its end, where reviews tend to give their verdict (Sun et al., 2019, "How to fine-tune BERT for text
# classification", found it best on IMDB); "head" keeps the start alone, as `truncation=True` does.
TRUNCATION_STRATEGIES = ("head_tail", "head")


def check_truncation(truncation: str, name: str = "truncation") -> None:
    """Refuse a cut that is not one of `TRUNCATION_STRATEGIES`, naming where it came from."""
    if truncation not in TRUNCATION_STRATEGIES:
        raise UserInputError(f"{name} must be one of {', '.join(TRUNCATION_STRATEGIES)}, got {truncation!r}")


def keep_head_and_tail(ids: list, max_length: int) -> list:
    """`ids` if it fits in `max_length`, else its first `max_length // 4` items and the rest from its end."""
    if len(ids) <= max_length:
        return ids
    head = max_length // 4
    return ids[:head] + ids[len(ids) - (max_length - head) :]


def saved_truncation(config) -> str:
    """How a trained model's texts were cut (`config.text_truncation`); "head" for folders saved before it existed."""
    return getattr(config, "text_truncation", "head")


def encode_texts(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, truncation: str = "head"
) -> dict[str, list[list[int]]]:
    """Tokenise `texts` (no padding), cutting each to `max_length` tokens as `truncation` says."""
    check_truncation(truncation)
    if truncation == "head":
        return dict(tokenizer(texts, truncation=True, max_length=max_length))
    # Whole texts, then cut; BERT-style [CLS] and [SEP] stay at either end. verbose=False: no "longer than" warning.
    encoded = tokenizer(texts, verbose=False)
    return {key: [keep_head_and_tail(row, max_length) for row in rows] for key, rows in encoded.items()}


def multi_label_size(dataset: datasets.Dataset) -> int | None:
    """The number of labels when `dataset`'s `label` column holds lists of class ids (multi-label), else None."""
    inner = getattr(dataset.features.get("label"), "feature", None)
    return inner.num_classes if isinstance(inner, datasets.ClassLabel) else None


def tokenize_splits(
    dataset: datasets.DatasetDict, tokenizer: PreTrainedTokenizerBase, max_length: int, truncation: str = "head"
) -> datasets.DatasetDict:
    """
    Tokenise every split (batched, cached), cut to `max_length` as `truncation` says; add a `length` column. A
    multi-label `label` column (lists of class ids) becomes multi-hot float rows `(num_labels,)`, the targets of the
    models' per-label binary cross-entropy.
    """
    # A text whose every character the tokeniser drops still gets one [UNK], so no sequence is empty.
    fallback = [tokenizer.unk_token_id] if tokenizer.unk_token_id is not None else [tokenizer.pad_token_id]
    num_labels = multi_label_size(next(iter(dataset.values())))

    def encode(batch: dict) -> dict:
        encoded = encode_texts(tokenizer, batch["text"], max_length, truncation)
        for i, ids in enumerate(encoded["input_ids"]):
            if not ids:
                encoded["input_ids"][i] = fallback
                encoded["attention_mask"][i] = [1]
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        if num_labels is not None:
            encoded["label"] = [[float(i in ids) for i in range(num_labels)] for ids in map(set, batch["label"])]
        return encoded

    tokenized = dataset.map(encode, batched=True, desc="Tokenizing")
    if num_labels is not None:
        tokenized = tokenized.cast_column("label", datasets.Sequence(datasets.Value("float32"), length=num_labels))
    return tokenized
