"""What writers say about themselves: their own age and gender, only where they state it.

Rules follow the annotation guide (../shared/docs/ANNOTATION_GUIDE_SOURCE.md, sections 2 and 3): a
number or a gendered word counts only when the writer ties it to themself ("I'm 16", "(17F)", "as a
30 year old", "I turned 21", "I'm a guy", "as a woman", "I'm trans male"). Never guessed from names,
style, school or job, and someone else's age or gender is not the writer's ("my 19 year old son",
"my boyfriend", "my mom (52F)"). "almost 18" is 17, as the guide says.

dbt's connection calls these as SQL functions (orchestration/dbt_functions.py) on the post's text
before it is scrubbed; tests call them directly. Measured against the gold set's annotations by
bench/self_disclosure.py.
"""

import re

import pyarrow as pa

# The number words people write ages with ("a thirty six year old man").
_UNITS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70}
_NUMBER_WORDS = {word: 10 + i for i, word in enumerate(_TEENS)} | {
    f"{tens}{sep}{unit}" if unit else tens: value + (i + 1 if unit else 0)
    for tens, value in _TENS.items()
    for i, unit in [(-1, ""), *enumerate(_UNITS)]
    for sep in ([""] if not unit else [" ", "-", ""])
}
_NUMBER = r"(?P<age>\d{2}|" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True)) + ")"

_I_AM = r"(?:\bi\s*['’]?\s*a?m|\bim)"  # I'm, I am, Im, i m
_YEARS_OLD = r"(?:years?|yrs?)[\s-]*old|y\s*/\s*o\b|y\.o\.|\byo\b"
# What can follow "I'm <number>" when the number is not an age: units, amounts, heights.
_NOT_AGE_AFTER = (
    r"(?!\s*(?:%|percent|'|’|\"|ft|feet|foot|inch|cm|kg|kilos?|lbs?|pounds|stone|mg|k\b|grand|dollars|\$|"
    r"minutes?|mins?|hours?|hrs|days?|weeks?|months?|seconds?|times|miles|km|pages|credits|sessions|"
    r"percent|points?|people|of\b|out of|x\b|:|\.\d|,\d|/\d))"
)
_SOFTENERS = r"(?:(?:only|just|now|currently|still|already|a|an|literally|barely|finally)\s+)*"
# "almost 18", "nearly-20", "soon 18", "turning 28", "approaching 28": a year short of the number, as the
# guide reads "almost 18".
_ALMOST = r"(?:(?P<almost>almost|nearly|about to turn|soon to be|soon|turning|approaching)[\s-]*)?"
_AGE_YEARS_OLD = _ALMOST + _NUMBER + r"[\s-]*(?:" + _YEARS_OLD + r")"  # "almost 19 years old", "30-year-old"
_MALE_WORDS = r"guy|man|male|boy|dude|bloke|lad|gentleman|dad|father|husband|son|brother|trans\s*(?:man|male|guy)"
_FEMALE_WORDS = (
    r"girl|woman|female|lady|gal|mom|mum|mother|wife|daughter|sister|trans\s*(?:woman|female|girl)|"
    r"crazy cat lady"
)
_NONBINARY_WORDS = r"non[\s-]?binary|enby|genderqueer|genderfluid|agender"
_GENDER_WORD = rf"(?P<gender>{_NONBINARY_WORDS}|{_FEMALE_WORDS}|{_MALE_WORDS})"
# "(25M)", "[19F]", "(20 m)", "I (24F)", "(F19)", "me (NB, 22)": a tag at a line start or after I / me, which
# says the age and the gender at once (an age-first tag may read ftm / mtf, which says neither gender).
_TAG_START = r"(?:^|\n|\bi\s*|\bme\s*)"
_TAGS = [
    _TAG_START + r"[\(\[]\s*(?P<age>\d{2})\s*,?\s*/?\s*(?P<gender>f|m|nb|ftm|mtf)\s*[\)\]]",
    _TAG_START + r"[\(\[]\s*(?P<gender>f|m|nb)\s*,?\s*/?\s*(?P<age>\d{2})\s*[\)\]]",
]

# Each pattern names the age (group `age`) and may say "almost" (group `almost`). The first that matches wins.
_AGE_PATTERNS = [
    *_TAGS,
    # "I'm 16 F", "I'm 19 and in college", "I am only 22", "I'm almost 18", "I'm a 23 year old woman"
    _I_AM + r"\s+" + _SOFTENERS + _ALMOST + _NUMBER + r"(?:\s*\([^)]{0,20}\))?\s*(?:-|\s)*(?:" + _YEARS_OLD + r")",
    _I_AM + r"\s+" + _SOFTENERS + _ALMOST + _NUMBER + r"\b" + _NOT_AGE_AFTER,
    # "as a 30 year old", "being a 19-year-old"
    r"\b(?:as|being)\s+an?\s+" + _AGE_YEARS_OLD,
    # "I'm a dude, almost 19 years old", "I'm a teenage boy, soon 18 years old"
    _I_AM + r"\s+an?\s+(?:[\w'’-]+\s+){0,2}?" + _GENDER_WORD + r"\s*,\s*" + _AGE_YEARS_OLD,
    # "I just turned 20", "I have recently turned fourteen", "(turned 17 this month)", "I'm a girl who turned
    # 18 in november" (with no one else named before it)
    r"(?:\bi\s+(?:['’]?ve\s+|have\s+)?|\(|"
    + _I_AM
    + r"\s+an?\s+(?:[\w'’-]+\s+){0,3}?who\s+)(?:just\s+|recently\s+|finally\s+)?turned\s+"
    + _NUMBER
    + r"\b"
    + _NOT_AGE_AFTER,
    # "despite me turning 18 in 2 months", "before I turn 20": a year short
    r"\b(?:me|(?:before|until|till)\s+i)\s+(?P<almost>turning|turn)\s+" + _NUMBER + r"\b" + _NOT_AGE_AFTER,
    # "(only 17 years old)": a bare aside on the writer's own youth
    r"\(\s*(?:only|just)\s+" + _AGE_YEARS_OLD + r"\s*\)",
    # "all my 30 years of living", "I live a solid twenty four years on this planet"
    r"\b(?:my|i\s+(?:can\s+)?(?:live|lived|have\s+lived)\s+(?:a\s+solid\s+|for\s+|all\s+)?)\s*"
    + _NUMBER
    + r"\s+years\s+(?:of\s+(?:life|living|existence|being alive)|on\s+(?:this|the)\s+(?:planet|earth))",
    # "as I reach the age of 25"
    r"\bi\s*(?:['’]?m|am)?\s+(?:reach\w*|turn\w*|at)\s+the\s+age\s+of\s+(?P<age>\d{2})\b",
    # "(28 now)", "26 now and I try", "I am 20 years old now"
    r"(?:^|\n|[\(.,;]\s*)(?P<age>\d{2})\s+now\b",
    # "26, the only son", "19, female": a line or the text opening with the age and a comma
    r"^\s*(?P<age>\d{2})\s*,\s+(?:the|a|an|male|female|m|f|from|and|i)\b",
]
_AGE = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _AGE_PATTERNS]

# Up to four describing words between "I'm a" and the noun ("23 year old unemployed"); a function word
# ends the description ("I'm a failure compared to my sister" says nothing of the writer's gender).
_FILLER = (
    r"(?:(?!(?:to|my|your|his|her|their|our|of|for|with|and|or|but|the|who|that|which|in|on|at|from|like|as|than)\b)"
    r"[\w'’,/-]+(?:\s*\([^)]{0,25}\))?\s+){0,4}?"
)
# "I was a", "I used to be a", "I've always been a" say as much of the writer's gender as "I'm a".
_I_AM_OR_WAS = r"(?:" + _I_AM + r"|\bi\s*(?:was|used\s+to\s+be|(?:['’]ve|\s+have)\s+(?:always\s+)?been))"
# A comparison or a supposition is no disclosure: "as hurt as a mother", "as if I am a lonely guy",
# "like I'm the little brother of".
_NOT_ABOUT_ME_BEFORE = re.compile(
    r"(?:\bas\s+[\w'’]+\s*|\bas\s+if\s*|\bas\s+though\s*|(?<!feel )(?<!felt )(?<!feels )\blike\s*)$", re.IGNORECASE
)

# Each gender pattern names the word or tag that says the gender (group `gender`).
_GENDER_PATTERNS = [
    *_TAGS,
    # "I'm 16 F", "I am 20 years old male", "I'm 19, female"
    _I_AM
    + r"\s+\d{2}\s*(?:\([^)]{0,20}\)\s*)?(?:(?:"
    + _YEARS_OLD
    + r")\s*)?,?\s*(?P<gender>f|m|nb|male|female|guy|girl|woman|man|boy)\b",
    # "I'm a 23 year old unemployed woman", "I'm a trans dude", "I am a proud man", "I'm the owners son",
    # "I used to be a very optimistic guy", "I'm just some dumb guy"
    _I_AM_OR_WAS
    + r"\s+(?:also\s+|just\s+|only\s+|still\s+)?(?:a|an|the|their|his|her|your|some)\s+"
    + _FILLER
    + _GENDER_WORD
    + r"\b(?!['’]s|\s+(?:friend|who\s+(?:i|you|my)))",
    # "I'm male", "I'm nonbinary", "I'm trans male"
    _I_AM + r"\s+(?:also\s+)?(?P<gender>(?:trans\s*)?(?:male|female)|" + _NONBINARY_WORDS + r")\b",
    # "as a man", "as a 30-year-old woman", "being a woman", "less of a man", "my fellow girls"
    r"\b(?:as|being|less of)\s+an?\s+"
    + _FILLER
    + r"(?P<gender>guy|man|male|boy|dude|woman|girl|female|lady|mom|mum|mother|dad|"
    r"father|" + _NONBINARY_WORDS + r")\b(?!['’]s)",
    r"\bmy\s+fellow\s+(?P<gender>girls|women|ladies|guys|men|dudes|boys)\b",
    # The writer's place among the children: "being the worst son ever", "mould me into the model son",
    # "26, the only son of a proud family" (never after "my": "my only son" is the writer's child)
    r"(?:^\s*\d{2}\s*,\s*|\b(?:being|be|into|me)\s+|"
    + _I_AM_OR_WAS
    + r"\s+)(?:the|their|a|his|her)\s+(?:only|worst|model|perfect|good|golden|eldest|oldest|youngest|middle|"
    r"favou?rite|disappointing)\s+(?P<gender>son|daughter)\b",
]
_GENDER = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _GENDER_PATTERNS]
_GENDER_OF_WORD = [
    (re.compile(rf"^(?:{_NONBINARY_WORDS}|nb)$", re.IGNORECASE), "nonbinary"),
    (re.compile(rf"^(?:{_FEMALE_WORDS}|f|girls|women|ladies)$", re.IGNORECASE), "female"),
    (re.compile(rf"^(?:{_MALE_WORDS}|m|guys|men|dudes|boys)$", re.IGNORECASE), "male"),
]

AGE_BANDS = ((13, "13-17"), (18, "18-24"), (25, "25-34"), (35, "35+"))
YOUNGEST, OLDEST = 10, 99  # an "age" outside these is a misread number


def _age_value(word: str) -> int | None:
    word = word.lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word)


def self_disclosed_age(text: str | None) -> int | None:
    """The age the writer states as their own, or None."""
    if not text:
        return None
    for pattern in _AGE:
        for match in pattern.finditer(text):
            age = _age_value(match["age"])
            if age is None or not YOUNGEST <= age <= OLDEST:
                continue
            return age - 1 if match.groupdict().get("almost") else age
    return None


def self_disclosed_gender(text: str | None) -> str | None:
    """`female`, `male` or `nonbinary` where the writer states their own gender, else None."""
    if not text:
        return None
    for pattern in _GENDER:
        for match in pattern.finditer(text):
            if _NOT_ABOUT_ME_BEFORE.search(text, max(0, match.start() - 20), match.start()):
                continue
            word = re.sub(r"\s+", " ", match["gender"].strip())
            for word_pattern, gender in _GENDER_OF_WORD:
                if word_pattern.match(word) or word_pattern.match(word.replace(" ", "")):
                    return gender
    return None


def age_band(age: int | None) -> str | None:
    """The marts' age bands: 13-17, 18-24, 25-34, 35+ (an age under 13 has no band: too few to show)."""
    if age is None:
        return None
    band = None
    for lowest, name in AGE_BANDS:
        if age >= lowest:
            band = name
    return band


def self_disclosed_ages(texts: pa.Array) -> pa.Array:
    """Vectorised self_disclosed_age: the SQL function dbt's models call."""
    return pa.array([self_disclosed_age(t) for t in texts.to_pylist()], pa.int32())


def self_disclosed_genders(texts: pa.Array) -> pa.Array:
    """Vectorised self_disclosed_gender: the SQL function dbt's models call."""
    return pa.array([self_disclosed_gender(t) for t in texts.to_pylist()], pa.string())


def age_bands(ages: pa.Array) -> pa.Array:
    """Vectorised age_band: the SQL function dbt's models call."""
    return pa.array([age_band(a) for a in ages.to_pylist()], pa.string())
