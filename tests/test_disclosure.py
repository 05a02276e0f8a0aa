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
        ("I'm a dude, almost 19 years old, and I live with my parents", 18, "male"),
        ("I'm a teenage boy, soon 18 years old", 17, "male"),
        ("I'm approaching 28 and I've hit my lowest point", 27, None),
        ("they booked me in despite me turning 18 in 2 months", 17, None),
        ("I plan on it before I turn 20.", 19, None),
        ("I have recently turned fourteen and noticed", 14, None),
        ("Basically, I'm a girl who turned 18 in november", 18, "female"),
        ("going through shit (only 17 years old) and", 17, None),
        ("Of all my 30 years of living this was the worst", 30, None),
        ("I used to be a very optimistic guy", None, "male"),
        ("I'm just some dumb guy on the internet", None, "male"),
        ("I can't stop being the worst son ever", None, "male"),
        ("They tried to mould me into the model son", None, "male"),
        ("26, the only son of a proud family", 26, "male"),
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
        "my friend who turned 18 last week says",  # someone else turning an age
        "my only son is the worst son ever to my ex",  # the writer's child
        "I was 26 with almost no money",  # the past: no age now
        "",
    ],
)
def test_traps_disclose_nothing(text):
    assert self_disclosed_gender(text) is None
    if any(word in text for word in ("20s", "son", "52F", "mg", "turned", "was 26")):
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
