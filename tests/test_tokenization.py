"""The word-level tokeniser: training, special tokens, saving and loading through AutoTokenizer."""

from transformers import AutoTokenizer

from modeling.data.tokenization import PAD_TOKEN, UNK_TOKEN, train_word_tokenizer

TEXTS = ["The movie was great!", "the movie was awful.", "Great acting, great story", "awful awful plot"]


def test_special_tokens_and_vocabulary():
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=2)
    assert tokenizer.convert_ids_to_tokens([0, 1]) == [PAD_TOKEN, UNK_TOKEN]
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 1
    vocab = tokenizer.get_vocab()
    assert {"the", "movie", "was", "great", "awful"} <= set(vocab)
    assert "plot" not in vocab  # seen once: below min_frequency


def test_lowercases_and_maps_unknown_words_to_unk():
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("GREAT Zebra!")["input_ids"])
    assert tokens == ["great", UNK_TOKEN, "!"]


def test_vocabulary_is_capped():
    tokenizer = train_word_tokenizer(TEXTS, vocab_size=5, min_frequency=1)
    assert len(tokenizer) == 5


def test_round_trip_through_auto_tokenizer(tmp_path):
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1, model_max_length=16)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    batch = ["the movie was great", "awful"]
    assert loaded(batch, padding=True)["input_ids"] == tokenizer(batch, padding=True)["input_ids"]
    assert loaded.model_max_length == 16
    assert loaded.padding_side == "right"
    padded = loaded(batch, padding=True)
    assert padded["input_ids"][1][1:] == [0, 0, 0] and padded["attention_mask"][1] == [1, 0, 0, 0]


def test_accepts_batches_of_texts():
    assert len(train_word_tokenizer([TEXTS[:2], TEXTS[2:]], min_frequency=1)) == len(
        train_word_tokenizer(TEXTS, min_frequency=1)
    )


def test_markup_and_links_are_cleaned_and_the_cleaning_is_saved(tmp_path):
    texts = ["Great film.<br /><br />See https://t.co/Ab1 or www.imdb.com/title", "great <i>plot</i> http://x.y/z"]
    train_word_tokenizer(texts, min_frequency=1).save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    # A link runs to the next space; a tag becomes a space.
    assert loaded.tokenize("A <BR/>great film. http://a.b/c!") == ["[UNK]", "great", "film", ".", "xxurl"]
    kept = train_word_tokenizer(texts, min_frequency=1, clean_markup=False)
    assert {"<", "br", "http", "://"} <= set(kept.get_vocab()) and "xxurl" not in kept.get_vocab()
