"""Self-disclosed age and gender: only what writers say about themselves (assets/disclosure.py)."""

import pytest

from stigma_insights.assets.disclosure import age_band, self_disclosed_age, self_disclosed_gender


@pytest.mark.parametrize(
    ("text", "age", "gender"),
    [
        # tags tied to the writer
        ("(25M) I've been dealing with this for years", 25, "male"),
        ("[19F]  Everything I do is wrong", 19, "female"),
        ("I (20 m) may or may not have depression", 20, "male"),
        ("me (NB, 22) at my first appointment", 22, "nonbinary"),
        ("I'm 16 F diagnosed with depression.", 16, "female"),
        # plain statements
        ("I'm a 23 year old unemployed woman still living with my mom", 23, "female"),
        ("I am 20 years old male, with a history of OCD", 20, "male"),
        ("Im 27(soon to be 28) y/o male, and I don't know what to do", 27, "male"),
        ("I’m a 24 yo lady newly married", 24, "female"),
        ("Hello. I am a thirty six year old man", 36, "male"),
        ("I'm only 22, but I feel like I've failed", 22, None),
        ("I'm 18 and I want to disappear", 18, None),
        # indirect statements the guide lists
        ("I just turned 20 in December", 20, None),
        ("I'm almost 18 and my parents still decide everything", 17, None),
        ("on antidepressants since I was 9 years old (28 now)", 28, None),
        ("as a 30 year old I should be able to cope", 30, None),
        ("I'm a trans dude, in love with a dude", None, "male"),
        ("as a woman I was told I was just hormonal", None, "female"),
        ("First off I'm male but we are just friends", None, "male"),
        ("I feel like less of a man because of this", None, "male"),
        ("to my fellow girls out there: it gets better", None, "female"),
        ("I'm nonbinary and my family won't use my name", None, "nonbinary"),
    ],
)
def test_statements_about_oneself(text, age, gender):
    assert self_disclosed_age(text) == age
    assert self_disclosed_gender(text) == gender


@pytest.mark.parametrize(
    "text",
    [
        "my mom (52F) says therapy is for the weak",  # someone else's tag
        "My boyfriend says I'm dramatic",  # a partner's gender is not the writer's
        "here with my 19 year old son on a Monday",  # someone else's age
        "I was probably in my 20s when it started",  # no age stated
        "I'm 100% sure, I take 20 mg, I'm 5'10 and I'm 30 minutes late",  # numbers that are not ages
        "I'm a failure compared to my sister and brother",  # a function word ends the description
        "as hurt as a mother pleading for her child",  # a comparison
        "I feel as if I am a lonely guy in a wasteland",  # a supposition
        "I created this as a way to help my mom",
        "",
    ],
)
def test_traps_disclose_nothing(text):
    assert self_disclosed_gender(text) is None
    if "20s" in text or "son" in text or "52F" in text or "mg" in text:
        assert self_disclosed_age(text) is None


def test_age_bands():
    assert [age_band(a) for a in (None, 12, 13, 17, 18, 24, 25, 34, 35, 80)] == [
        None,
        None,
        "13-17",
        "13-17",
        "18-24",
        "18-24",
        "25-34",
        "25-34",
        "35+",
        "35+",
    ]
