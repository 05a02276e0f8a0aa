"""Language identification: the detectors' answers, the code-mixed lexicons and their country prior,
undetermined short posts, and no false code-mixed call on real English posts."""

from pathlib import Path

import polars as pl
import pytest

from stigma_insights.assets.labels.language import UNDETERMINED, detect_language, detect_languages

SHARED_GOLD = Path(__file__).resolve().parents[2] / "shared" / "data" / "gold" / "reddit_stigma_dev.csv"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("우리 부모님은 정신과 가는 걸 부끄러워해요. 아무한테도 말하지 말래요.", "ko"),
        ("मेरे परिवार वाले कहते हैं कि डिप्रेशन कुछ नहीं है, बस आलस है।", "hi"),
        ("Mis padres dicen que la terapia es para locos y que no le cuente a nadie.", "es"),
        ("Sabi ng nanay ko, baliw lang daw ang nagpapatingin sa psychiatrist.", "tl"),
        ("Yung parents ko, ayaw nila ako mag therapy kasi nakakahiya daw sa family.", "taglish"),
        ("Mere ghar wale kehte hai ki depression sirf ek phase hai, therapy ki zarurat nahi.", "hinglish"),
        ("My manager told the whole team about my panic attacks and now nobody talks to me.", "en"),
        ("lol same 😭", UNDETERMINED),
        ("https://example.org/a-very-long-link-with-words-in-it", UNDETERMINED),
    ],
)
def test_each_language_and_the_code_mixed_ones(text, language):
    guess = detect_language(text)
    assert guess.code == language
    assert 0 <= guess.confidence <= 1 and (guess.confidence > 0) == (language != UNDETERMINED)


def test_the_country_of_the_post_lowers_the_bar_for_its_code_mixed_language():
    # Mostly English with a few romanised Hindi words: Hinglish only when the post comes from India.
    text = "Honestly my family never understood my anxiety, mummy says it is all in my head, bas yaar kya karu"
    assert detect_language(text).code == "en"
    assert detect_language(text, "IN").code == "hinglish"
    assert detect_language(text, "PH").code == "en"


@pytest.mark.skipif(not SHARED_GOLD.exists(), reason="needs ../shared (the gold set of real posts)")
def test_real_english_posts_are_english():
    texts = pl.read_csv(SHARED_GOLD)["text"].to_list()
    codes = [guess.code for guess in detect_languages(texts)]
    assert codes.count("en") == len(texts)  # 300 real Reddit posts: no false code-mixed or other call
