"""The language of a text: words by script, language shares, token counts by the model's own tokenizer,
and whether a model reads the texts. Chinese and Russian sentences here are written for these tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from textclf_core.data import language

CHINESE = [
    "这个手机的电池很不好，散热也差。",
    "服务很好，下次还会再来。",
    "质量一般，价格太贵了！",
    "房间干净，早餐也不错。",
    "物流很快，包装完好，非常满意。",
]
RUSSIAN = [
    "Доставка была быстрой, всё понравилось.",
    "Качество плохое, не рекомендую.",
    "Хороший отель, чистые номера.",
]
ENGLISH = ["The battery is poor and it gets hot.", "Great service, we'll come back!", "Too expensive for what it is."]


def test_segment_never_returns_punctuation_or_spaces():
    for text in CHINESE + RUSSIAN + ENGLISH + ["今日は東京でラーメンを食べました。", "  —  ,,, !!! "]:
        for word in language.segment(text):
            assert word.strip() == word and word
            assert any(ch.isalnum() for ch in word), (text, word)


def test_segment_chinese_gives_words_not_clauses():
    words = language.segment("这个手机的电池很不好，散热也差。")
    assert "电池" in words and "手机" in words
    assert "，" not in words and "。" not in words
    assert all(len(w) <= 4 for w in words)  # no whole clause as one "word"
    # Latin words and numbers inside Chinese text are words too
    assert {"iPhone", "15"} <= set(language.segment("我用iPhone 15很久了"))


def test_segment_spaced_scripts_and_apostrophes():
    assert language.segment("I don't like it, really!") == ["I", "don't", "like", "it", "really"]
    assert language.segment("Привет, как дела?") == ["Привет", "как", "дела"]


def test_japanese_counts_script_runs():
    words = language.segment("今日は東京でラーメンを食べました。")
    assert "ラーメン" in words and "東京" in words and "。" not in words


def test_word_counts_match_segment_on_mixed_rows():
    texts = CHINESE + RUSSIAN + ENGLISH + ["", None, "a - b", "'quoted' it's", "12 345", "A-1234"]
    counts = language.word_counts(texts)
    expected = [len(language.segment(t)) if isinstance(t, str) else 0 for t in texts]
    assert counts.tolist() == expected
    assert counts[len(CHINESE) + len(RUSSIAN)] == 8  # "The battery is poor and it gets hot."
    assert language.word_counts(pd.Series(["one two", None])).tolist() == [2, 0]


def test_word_analyzer_lowercases_for_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer=language.word_analyzer).fit(CHINESE + ["Great Battery"])
    vocab = set(vec.vocabulary_)
    assert {"电池", "great", "battery"} <= vocab
    assert not vocab & {"，", "。", "！", " "}


def test_detect_shares_on_mixed_chinese_english_russian():
    texts = CHINESE * 4 + ENGLISH * 2 + RUSSIAN * 2 + ["12345", "ID-778-XZ", ""]
    profile = language.detect(texts)
    assert profile.main == "Chinese"
    assert profile.languages["Chinese"] == pytest.approx(20 / 34)
    assert profile.languages["Latin script"] == pytest.approx(6 / 34)
    assert profile.languages["Cyrillic script"] == pytest.approx(6 / 34)
    assert profile.no_words_share == pytest.approx(2 / 34)
    assert profile.needs_segmentation
    assert "Chinese" in profile.sentence() and "Cyrillic" in profile.sentence()
    assert language.LanguageProfile.from_dict(profile.to_dict()) == profile
    assert not language.detect(ENGLISH).needs_segmentation


def test_numbers_and_codes_hold_no_words():
    assert not language.has_words("12 345.6")
    assert not language.has_words("A-1234 / B-77")
    assert language.has_words("电") and language.has_words("ok")
    assert language.detect(["1001", "1002", "A-3", "2024-01-01"]).no_words_share == 1.0


def test_token_counts_are_the_tokenizers_own(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    texts = CHINESE * 3
    counts = language.token_counts(tok, texts)
    own = [len(tok(t)["input_ids"]) for t in texts]
    assert counts.tolist() == own
    assert len(language.token_counts(tok, texts * 100, sample=50)) == 50


def test_unknown_tokens_make_a_model_unreadable(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)  # an English WordPiece vocabulary
    verdict = language.readability(tok, CHINESE * 10, model="Tiny BERT")
    assert not verdict.reads and verdict.unknown_share > 0.5 and verdict.kind == "unknown"
    assert verdict.sentence.startswith("Tiny BERT cannot read these texts:")
    assert "bert-base-chinese" in verdict.sentence and "TF-IDF" in verdict.sentence
    english = language.readability(tok, ["great movie loved it", "terrible film bad acting"], model="Tiny BERT")
    assert english.reads and english.sentence == "" and english.unknown_share == 0


def test_byte_level_tokenizer_measured_by_byte_pieces(tmp_path):
    from tiny_models import make_tiny_gpt2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(make_tiny_gpt2(tmp_path / "gpt2"))
    chinese = language.readability(tok, CHINESE * 5, model="Tiny GPT-2")
    assert chinese.kind == "byte pieces" and not chinese.reads
    assert language.readability(tok, ["great movie loved it"] * 3).reads


def test_language_warning_for_a_text_the_model_never_saw():
    trained = language.detect(CHINESE * 10).to_dict()
    one = language.language_warning(trained, ["This is an English sentence."])
    assert one and "Latin script" in one and "Chinese" in one
    assert language.language_warning(trained, ["电池很好"]) is None
    assert language.language_warning(trained, ["12345"]) is None  # no words: nothing to say
    many = language.language_warning(trained, CHINESE * 3 + ENGLISH)
    assert many and "17%" in many  # 3 of 18 rows
    assert language.unfamiliar_rows(None, ENGLISH).sum() == 0  # a model without a profile: no warning


def test_chinese_sample_words_within_ten_percent_of_jieba(chinese_reviews_path):
    import jieba

    texts = pd.read_csv(chinese_reviews_path)["text"].dropna().astype(str).tolist()[:300]
    ours = language.word_counts(texts).sum()
    theirs = sum(sum(1 for w in jieba.lcut(t) if any(c.isalnum() for c in w)) for t in texts)
    assert abs(ours - theirs) / theirs < 0.10
    assert np.median(language.word_counts(texts)) > 5  # not "median 1 word" as by spaces


def test_models_say_which_model_reads_the_texts(tiny_bert):
    from tiny_models import CORPUS

    from textclf_core.store import catalog as models

    assert models.unreadable_models(CORPUS, [str(tiny_bert)]) == {}  # the words its vocabulary was built from
    why = models.unreadable_models(CHINESE * 5, [("embeddings-tiny", str(tiny_bert)), "not-cached/anywhere"])
    assert list(why) == ["embeddings-tiny"]  # a model whose tokenizer is not here cannot be measured
    reads, sentence = models.fit_sentence(CHINESE * 5, str(tiny_bert))
    assert reads is False and "cannot read these texts" in sentence


def test_offline_note_names_hub_models_when_no_bundled_model_reads():
    from textclf_core.store import catalog as models

    note = models.offline_language_note(CHINESE * 5, offline=True)
    assert note and "reads Chinese" in note and "bert-base-chinese" in note and "xlm-roberta-base" in note
    assert models.offline_language_note(ENGLISH * 5, offline=True) is None
    assert models.offline_language_note(CHINESE * 5, offline=False) is None


def test_bundled_minilm_reads_english_not_chinese_nor_russian():
    from textclf_core.store import catalog as models

    assert models.model_reads(models.BUNDLED_KEY, ENGLISH * 5).reads
    chinese = models.model_reads(models.BUNDLED_KEY, CHINESE * 5)
    assert not chinese.reads and chinese.unknown_share > 0.3
    russian = models.model_reads(models.BUNDLED_KEY, RUSSIAN * 5)  # letters known, words cut into letters
    assert not russian.reads and russian.tokens_per_word > language.MAX_TOKENS_PER_WORD
    assert "pieces on average" in russian.sentence


def test_jieba_starts_quietly_with_its_cache_in_our_folder(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = "from textclf_core.data import language; print(language.segment('电池很不好'))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['电池', '很', '不好']"  # nothing else on stdout
    assert "prefix dict" not in done.stderr
    assert list((tmp_path / "textclf").glob("jieba*.cache"))


def test_a_chinese_text_with_a_brand_name_is_chinese():
    assert language.language_of("我用iPhone很久了") == "Chinese"
    assert language.language_of("配置不错，屏幕比我另一部ThinkPad还好") == "Chinese"
    assert language.language_of("I bought it at 京东 last week") == "Latin script"


def test_a_model_with_a_chinese_vocabulary_reads_chinese(tmp_path):
    from tiny_models import make_tiny_cjk_bert, make_tiny_cjk_gpt2, make_tiny_gpt2
    from transformers import AutoTokenizer

    from textclf_core.store import catalog as models

    bert = make_tiny_cjk_bert(tmp_path / "cjk-bert", extra_texts=CHINESE)
    verdict = language.readability(AutoTokenizer.from_pretrained(bert), CHINESE * 5)
    assert verdict.reads and verdict.unknown_share == 0 and verdict.tokens_per_word < 3
    assert models.unreadable_models(CHINESE * 5, [str(bert)]) == {}
    gpt2 = make_tiny_cjk_gpt2(tmp_path / "cjk-gpt2", extra_texts=CHINESE * 20)
    pieces = language.readability(AutoTokenizer.from_pretrained(gpt2), CHINESE * 5)
    english_only = language.readability(AutoTokenizer.from_pretrained(make_tiny_gpt2(tmp_path / "gpt2")), CHINESE * 5)
    assert pieces.kind == "byte pieces" and pieces.reads and pieces.unknown_share == 0  # merged into characters
    assert not english_only.reads and english_only.unknown_share > 0.9
