"""The ONNX export's pure-Python tokeniser (``onnx_preprocess``) gives exactly the ids of ``tokenizers``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from finegrain_automl.export import foreign_imports
from fg_automl_text import TEXT_FEATURE, onnx_preprocess
from fg_automl_text._tokenizer import CLS_ID, PAD_ID, UNK_ID, encode_texts, train_tokenizer
from fg_automl_text._unicode_tables import unicode_tables
from tokenizers import Tokenizer, normalizers, pre_tokenizers

HARD_CASES = {
    "empty": "",
    "spaces only": "   ",
    "tabs and newlines only": "\t\n\r\n\t",
    "unicode spaces only": "\u3000\u00a0\u2003\u2028\u202f",
    "controls": "a\x00b\x0bc\x0cd\x85e\x1ff\ufffdg\x7f",
    "accents": "Café naïve résumé Ångström Ñandú ÉCOLE Ça Tiếng Việt",
    "combining marks out of order": "e\u0301\u0323 e\u0323\u0301 a\u0345\u0301\u0316 o\u031b\u0300",
    "turkish, german, greek": "İstanbul ıi Straße ẞ ΟΔΟΣ Σίσυφος ΐ Ёлка ЙОД",
    "cjk": "我爱北京天安门 abc中文def 日本語のテキスト",
    "cjk compatibility and extension b": "\uf900\uf901 \U00020000\U0002a6d6 \U0002f800",
    "hangul": "한국어 텍스트 \u1100\u1161\u11a8",
    "emoji": "😀😂👍🏽 👨\u200d👩\u200d👧\u200d👦 🇫🇷🇩🇪 1\ufe0f\u20e3 ❤\ufe0f",
    "punctuation runs": "!!!???...,,,;;; --->>> ¿Qué? ¡Sí! «quoted» „German“ ‘single’ … — a.b.c",
    "symbols": "$100 & 50% @home #tag £5.00/wk http://example.com/path?x=1&y=2 ^_^ |~`",
    "special tokens in the text": "[CLS] hello [PAD] world [UNK]x[CLS]y [[CLS]] [cls] [CL S] [PAD",
    "compatibility forms": "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ！ 𝐁𝐨𝐥𝐝 ﬁ Ⅻ x² ½",
    "invisible characters": "zero\u200bwidth\u200cjoin\u200dx\ufeff soft\u00adhyphen \u202eabc\u202c",
    "private use, noncharacters, unassigned": "\ue000\U000f0000 \uffff \u0378\U000e01f0",
    "right-to-left and indic": "مَرْحَبًا שָׁלוֹם नमस्ते สวัสดีครับ",
    "numbers": "0800 123 456 07781482378 £1000 2nd 1st 3.14159",
    "missing-value words": "nan None NaN",
}


@pytest.fixture(scope="module")
def tables() -> dict:
    """The character tables as an export stores them (through JSON)."""
    return json.loads(json.dumps(unicode_tables()))


@pytest.fixture(scope="module")
def sms_texts(sms: pd.DataFrame) -> list[str]:
    return sms["text"].tolist()


@pytest.fixture(scope="module")
def tokenizer(sms_texts: list[str]) -> Tokenizer:
    """A BPE tokenizer of the text task, trained on the SMS texts and half the hard cases."""
    return train_tokenizer([*sms_texts, *list(HARD_CASES.values())[::2]], vocab_size=4000, max_length=64)


def _spec(tokenizer: Tokenizer, tables: dict, max_length: int) -> tuple[Tokenizer, dict]:
    """``tokenizer`` truncating to ``max_length``, and the export's spec for it."""
    truncating = Tokenizer.from_str(tokenizer.to_str())
    truncating.enable_truncation(max_length)
    spec = {
        "text_column": TEXT_FEATURE,
        "max_length": max_length,
        "pad_id": PAD_ID,
        "tokenizer": json.loads(truncating.to_str()),
        "unicode": tables,
    }
    return truncating, spec


def _assert_same_ids(tokenizer: Tokenizer, tables: dict, texts: list[str], max_length: int) -> np.ndarray:
    truncating, spec = _spec(tokenizer, tables, max_length)
    expected_ids, expected_lengths = encode_texts(truncating, texts, max_length=max_length)
    ids, lengths = onnx_preprocess.encode_texts(texts, spec)
    assert ids.dtype == np.int64 and lengths.dtype == np.int64 and ids.shape == (len(texts), max_length)
    for row, text in enumerate(texts):  # row by row, so a failure names the text
        assert ids[row].tolist() == expected_ids[row].tolist(), text[:200]
    np.testing.assert_array_equal(lengths, expected_lengths)
    return ids


@pytest.mark.parametrize("max_length", [64, 1024])
def test_ids_equal_tokenizers_on_every_sms_text(
    tokenizer: Tokenizer, tables: dict, sms_texts: list[str], max_length: int
) -> None:
    ids = _assert_same_ids(tokenizer, tables, sms_texts, max_length)
    assert (ids[:, 0] == CLS_ID).all()
    longest = (ids != PAD_ID).sum(1).max()
    assert longest == 64 if max_length == 64 else 64 < longest < max_length  # truncated; not truncated


@pytest.mark.parametrize("max_length", [16, 8192])
def test_ids_equal_tokenizers_on_hard_cases(tokenizer: Tokenizer, tables: dict, max_length: int) -> None:
    sms_words = " ".join(["Free entry in 2 a wkly comp to win FA Cup final tkts!"] * 400)
    long_texts = [sms_words, "a" * 5000, "ab" * 3000, "ünïcödé" * 500, "9" * 3000]
    ids = _assert_same_ids(tokenizer, tables, [*HARD_CASES.values(), *long_texts], max_length)
    found = dict(zip(HARD_CASES, ids.tolist(), strict=False))
    # The cases reach the branches they are meant for.
    assert found["empty"][:2] == [CLS_ID, PAD_ID] and found["spaces only"][:2] == [CLS_ID, PAD_ID]
    assert UNK_ID in found["private use, noncharacters, unassigned"]
    assert found["special tokens in the text"][:2] == [CLS_ID, CLS_ID]
    assert PAD_ID in found["special tokens in the text"][1:4] or max_length == 16
    if max_length == 8192:
        assert (ids[len(HARD_CASES)] != PAD_ID).sum() > 2000  # the long texts are not truncated


def test_every_code_point_normalises_and_splits_as_tokenizers(tokenizer: Tokenizer, tables: dict) -> None:
    # Runs of consecutive code points, forwards and backwards: every character, and
    # every run of combining marks canonically reordered (as Unicode lists them and reversed).
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True
    )
    splitter = pre_tokenizers.BertPreTokenizer()
    encoder = onnx_preprocess.TextEncoder(json.loads(tokenizer.to_str()), tables)
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for order in (chars, chars[::-1]):
        for start in range(0, len(order), 4096):
            text = "".join(order[start : start + 4096])
            normalized = normalizer.normalize_str(text)
            assert encoder.normalize(text) == normalized, f"from U+{ord(text[0]):04X}"
            words = [word for word, _ in splitter.pre_tokenize_str(normalized)]
            assert encoder.pre_tokenize(normalized) == words, f"from U+{ord(text[0]):04X}"


def test_random_mixtures_of_hard_characters(tokenizer: Tokenizer, tables: dict) -> None:
    rng = random.Random(0)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»“”‘’…—–",
        " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000",
        "\x00\x01\x1f\x7f\ufffd\u200b\u200c\u200d\u200e\ufeff\u00ad\u2060",
        "".join(map(chr, [*range(0xC0, 0x180), *range(0x1E00, 0x1F00)])),
        "".join(
            map(
                chr,
                [
                    *range(0x300, 0x370),
                    *range(0x591, 0x5C8),
                    *range(0x610, 0x61B),
                    *range(0x64B, 0x660),
                    *range(0xE31, 0xE3B),
                    *range(0x1AB0, 0x1B00),
                    *range(0x1DC0, 0x1E00),
                    *range(0x20D0, 0x2100),
                    *range(0xFE20, 0xFE30),
                    *range(0x302A, 0x3030),
                    *range(0x1D165, 0x1D16A),
                    *range(0x1D16D, 0x1D173),
                    0x16FF0,
                    0x16FF1,
                    0x0F39,
                ],
            )
        ),
        "我爱北京天安门中文日本語\uf900\U00020000한국어\u1100\u1161\u11a8ΑΣΩΐσςЁЙİıßẞ",
        "😀😂👍🏽👨👩👧🇫🇷🇩🇪\ufe0f\u20e3❤ＦＵＬＬ！ﬁⅫ²½\ue000\U000f0000\uffff\u0378",
    ]
    specials = ["[CLS]", "[PAD]", "[UNK]", "[cls]", "[CL", "S]"]
    texts = []
    for _ in range(20000):
        parts = []
        for _ in range(rng.randint(0, 30)):
            parts.append(rng.choice(specials) if rng.random() < 0.03 else rng.choice(rng.choice(pools)))
        texts.append("".join(parts))
    _assert_same_ids(tokenizer, tables, texts, 256)


def test_preprocess_reads_texts_as_the_classifier_does(tokenizer: Tokenizer, tables: dict) -> None:
    # The classifier reads features[text].astype(str): a number is its digits.
    frame = pd.DataFrame({TEXT_FEATURE: ["Call now!", 12.5, 7, "", "héllo wörld"], "other": range(5)})
    truncating, spec = _spec(tokenizer, tables, 32)
    inputs = onnx_preprocess.preprocess(frame, spec)
    expected_ids, lengths = encode_texts(truncating, frame[TEXT_FEATURE].astype(str).tolist(), max_length=32)
    assert set(inputs) == {"token_ids", "mask"}
    np.testing.assert_array_equal(inputs["token_ids"], expected_ids)
    np.testing.assert_array_equal(inputs["mask"], np.arange(32)[None, :] < lengths[:, None])
    assert inputs["mask"].dtype == np.bool_ and inputs["mask"][:, 0].all()
    with pytest.raises(ValueError, match="Column 'text' is missing"):
        onnx_preprocess.preprocess(frame.rename(columns={TEXT_FEATURE: "message"}), spec)
    # A missing text (which astype(str) keeps missing) cannot be tokenised: one clear error.
    missing = pd.DataFrame({TEXT_FEATURE: ["fine", None, float("nan")]})
    with pytest.raises(ValueError, match=r"no text in 2 of 3 rows \(first: row 2"):
        onnx_preprocess.preprocess(missing, spec)


def test_tokenizers_the_module_cannot_reproduce_are_refused(tokenizer: Tokenizer) -> None:
    state = json.loads(tokenizer.to_str())
    onnx_preprocess.check_tokenizer(state)  # the text task's own: accepted
    changed = [
        ("model", {**state["model"], "continuing_subword_prefix": "##"}, "continuing_subword_prefix"),
        ("model", {**state["model"], "byte_fallback": True}, "byte_fallback"),
        ("normalizer", {"type": "NFKC"}, "normalizer type"),
        ("pre_tokenizer", {"type": "Whitespace"}, "pre_tokenizer"),
        ("padding", {"strategy": "BatchLongest"}, "padding"),
    ]
    for key, value, message in changed:
        with pytest.raises(ValueError, match=message):
            onnx_preprocess.check_tokenizer({**state, key: value})


def test_preprocess_module_imports_only_numpy_pandas_and_the_standard_library(
    tokenizer: Tokenizer, tables: dict, tmp_path: Path
) -> None:
    path = Path(onnx_preprocess.__file__)
    assert foreign_imports(path) == set()  # numpy, pandas and the standard library only

    # Loaded from a copy by file, as the loader does, in an isolated interpreter.
    copy, spec_file = tmp_path / path.name, tmp_path / "spec.json"
    copy.write_text(path.read_text())
    spec_file.write_text(json.dumps(_spec(tokenizer, tables, 16)[1]))
    script = f"""
import importlib.util, json, sys
import pandas as pd
spec = importlib.util.spec_from_file_location("copied", {str(copy)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
inputs = module.preprocess(pd.DataFrame({{"text": ["Free prize!", "ok"]}}),
                           json.load(open({str(spec_file)!r})))
print(inputs["token_ids"].shape, inputs["mask"].sum())
heavy = sorted(m for m in sys.modules if m.split(".")[0] in
               ("torch", "tokenizers", "fg_automl_text", "finegrain_automl", "onnxruntime", "scipy"))
print(heavy)
"""
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shape, heavy = done.stdout.strip().splitlines()[-2:]
    assert shape.startswith("(2, 16)") and heavy == "[]"


def test_ascii_texts_take_the_fast_path_to_the_same_ids(tokenizer: Tokenizer, tables: dict) -> None:
    """ASCII texts are normalised with a translation table and split with a pattern;
    every ASCII character, alone and in runs, gives what the general path gives."""
    encoder = onnx_preprocess.TextEncoder(json.loads(tokenizer.to_str()), tables)
    texts = [chr(code) for code in range(128)] + ["".join(map(chr, range(128))), "Hello,  World!\t(x)\r\n$5.00?!"]
    texts += ["".join(random.Random(seed).choices([chr(c) for c in range(128)], k=60)) for seed in range(200)]
    for text in texts:
        assert text.isascii()
        assert encoder.normalize(text) == encoder.normalizer._normalize(text), repr(text)
        normalised = encoder.normalize(text)
        assert encoder.pre_tokenize(normalised) == encoder._split(normalised), repr(text)
        assert encoder.encode(text) == tokenizer.encode(text).ids, repr(text)
