"""Tiny randomly initialised transformers with tokenizers built locally.

Unit tests train these in seconds and never touch a model hub. Each builder writes
a folder that ``AutoTokenizer`` / ``AutoModelForSequenceClassification`` load like
any downloaded checkpoint.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "great movie loved it wonderful acting superb story",
    "terrible film hated it awful boring plot bad acting",
    "the team won the match with a late goal in the final",
    "the government announced a new tax policy for business",
    "shares rose as the company reported strong profits",
    "a new phone with a faster chip and better camera",
    "fresh rotten good bad fine poor excellent dull fun sad happy",
]


def _word_pieces(extra_texts=()):
    words = sorted({w for line in list(CORPUS) + list(extra_texts) for w in line.lower().split()})
    return words


def make_tiny_bert(path: str | Path, *, layers: int = 2, hidden: int = 32, extra_texts=(), seed: int = 0) -> Path:
    """A 2-layer 32-wide BERT with a WordPiece tokenizer built from CORPUS (+ extra_texts)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + _word_pieces(extra_texts)
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'")
    vocab = list(dict.fromkeys(vocab))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=256,
    )
    BertModel(config).save_pretrained(path)  # no head: like a hub checkpoint, the head is new
    return path


def _byte_level_tokenizer(path: Path, extra_texts=()):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<pad>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(CORPUS) + list(extra_texts), trainer)
    return tok


def make_tiny_gpt2(path: str | Path, *, extra_texts=()) -> Path:
    """A tiny GPT-2: no pad token, as on the hub, so the loader must add one."""
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=_byte_level_tokenizer(path, extra_texts),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tok.save_pretrained(path)
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    GPT2Model(config).save_pretrained(path)
    return path


def make_tiny_xlnet(path: str | Path, *, extra_texts=()) -> Path:
    """A tiny XLNet (left padding, summary head) with a locally trained tokenizer."""
    from transformers import PreTrainedTokenizerFast, XLNetConfig, XLNetModel

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=_byte_level_tokenizer(path, extra_texts),
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|endoftext|>",
        padding_side="left",
    )
    tok.save_pretrained(path)
    config = XLNetConfig(
        vocab_size=len(tok), d_model=32, n_layer=2, n_head=2, d_inner=64, pad_token_id=tok.pad_token_id
    )
    XLNetModel(config).save_pretrained(path)
    return path


def make_tiny_bert_mlm(path: str | Path, *, layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    """The tiny BERT of :func:`make_tiny_bert` saved WITH a (random) masked-LM head, like a BERT checkpoint."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    path = make_tiny_bert(path, layers=layers, hidden=hidden, seed=seed)
    config = BertConfig.from_pretrained(path)
    torch.manual_seed(seed)
    for old in path.glob("*.safetensors"):
        old.unlink()
    BertForMaskedLM(config).save_pretrained(path)
    return path


# Chinese sentences for the CJK vocabulary (reviews, sport, politics, like CORPUS): written for these tests.
CORPUS_ZH = [
    "这部电影很好看，演员的表演非常出色，故事也精彩。",
    "质量太差了，再也不会买了，非常失望！",
    "酒店的位置很好，服务也不错，房间干净。",
    "物流很快，包装完好，推荐购买。",
    "比赛最后一分钟进球，球队赢了冠军。",
    "政府宣布了新的税收政策，公司利润上涨。",
    "手机电池不好，屏幕太暗，客服态度差。",
]


def cjk_vocabulary(texts=()) -> list[str]:
    """Every non-space character of CORPUS_ZH + ``texts``, one token each (as bert-base-chinese's vocabulary:
    its tokenizer splits text into single CJK characters), in a stable order."""
    chars = {c for line in list(CORPUS_ZH) + [str(t) for t in texts] for c in line.lower() if not c.isspace()}
    return sorted(chars)


def make_tiny_cjk_bert(path: str | Path, *, layers: int = 2, hidden: int = 32, extra_texts=(), seed: int = 0) -> Path:
    """A tiny BERT that reads Chinese, like a Chinese or multilingual hub checkpoint: the English WordPiece
    vocabulary of :func:`make_tiny_bert` plus one token per character of CORPUS_ZH + ``extra_texts``
    (CJK characters and full-width punctuation), randomly initialised."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + _word_pieces()
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'")
    vocab += cjk_vocabulary(extra_texts)
    vocab = list(dict.fromkeys(vocab))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True, tokenize_chinese_chars=True
    )
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=256,
    )
    BertModel(config).save_pretrained(path)
    return path


def make_tiny_cjk_gpt2(path: str | Path, *, extra_texts=()) -> Path:
    """A byte-level tiny GPT-2 whose BPE is trained on Chinese too (CORPUS_ZH + ``extra_texts``)."""
    return make_tiny_gpt2(path, extra_texts=list(CORPUS_ZH) + list(extra_texts))
