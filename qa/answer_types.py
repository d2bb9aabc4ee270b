"""What kind of answer a question asks for, and whether a quote can be one.

A question that asks for a figure ("How much did the hub cost?", "How many trucks…?",
"What share…?") is only answered by a quote that states one. The closest passages of a
near miss — the transcripts' own names and topic, but not the fact asked — talk about the
subject without the number: quoting them reads as an answer and is not one. So the answerer
keeps, for such questions, only candidates whose quote states the figure asked for, and
abstains when none does (`qa.answering`). Years and times of day are not figures: "closed in
2020" does not say how many.
"""

from __future__ import annotations

import datetime as dt
import re

_I = re.IGNORECASE
_NUMBER_WORDS = (
    r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
    r"ninety|hundreds?|thousands?|millions?|billions?|trillions?|dozens?|half|quarter|third|"
    r"twice|double[ds]?|triple[ds]?|halved|percent|second|fourth|fifth|sixth|seventh|eighth|"
    r"ninth|tenth|eleventh|twelfth|twentieth|hundredth"
)
_STATES_FIGURE = re.compile(r"[$€£¥₽%]|\b(?:" + _NUMBER_WORDS + r")\b", _I)
_DIGITS = re.compile(r"(?<![\w:])\d+(?:[.,]\d+)*(?![\w:])")
_YEAR = re.compile(r"(?:1[89]|20)\d\d")
# A count may be vague or one: "some people", "one of the other babies", "none of them".
_QUANTIFIER = re.compile(r"\b(?:one|some|several|few|none|couple|handful|dozen)\b", _I)

# "how many [up to four words] <verb or preposition>": the words are what is counted.
_HOW_MANY = re.compile(
    r"\bhow\s+many\s+((?:[\w'’-]+\s+){0,3}?)(?=(?:do|does|did|is|are|was|were|will|would|"
    r"have|has|had|can|could|should|in|on|at|of|for|per|went)\b|[?.,!]|$)",
    _I,
)
_BY_HOW_MUCH = re.compile(r"\bby\s+how\s+much\b", _I)
_HOW_MUCH = re.compile(r"\bhow\s+much\b", _I)
# "How expensive is each point on wages?", "How costly was the strike?": a sum.
# "How much does the stripper make?" (a verb right after "how much": what is made is money)
_HOW_EXPENSIVE = re.compile(
    r"\bhow\s+(?:expensive|costly|dear)\b"
    r"|\bhow\s+much\s+(?:does|do|did|will|would|can|could)\s+(?:[\w'’-]+\s+){1,4}?make(?:\s+(?:a|an|per|each)\s+\w+)?\W*$",
    _I,
)
# "How long did the walkout last?", "How long does it take to train one?": a stretch of
# time (or a length), not the event's date. "How long ago" asks when.
_HOW_LONG = re.compile(r"\bhow\s+long\b(?!\s+ago\b)", _I)
_UNIT = (
    r"(?:second|sec|minute|min|hour|hr|day|night|week|weekend|fortnight|month|year|yr|decade|"
    r"centur(?:y|ie)|season|term|shift|generation|lifetime|kilomet(?:re|er)|km|met(?:re|er)|"
    r"mile|feet|foot|yard|inch(?:e)?|page|word|chapter|episode|lap|stage)s?"
)
_DURATION = re.compile(
    # "twenty-seven days", "12 to 18 months", "a year", "a few weeks", "for months", "3h"
    r"\b(?:\d+(?:[.,]\d+)?|a|an|one|few|several|couple|many|some|" + _NUMBER_WORDS + r")"
    r"(?:[\s-]+(?:[\w'’]+[\s-]+){0,3}?)" + _UNIT + r"\b"
    r"|\b\d+\s*(?:h|hrs?|mins?|km|m)\b"
    r"|\b(?:for|over|in)\s+(?:years|months|weeks|days|hours|decades|ages)\b"
    # "until the reservoir is back above sixty percent", "since 2009", "all night", "overnight"
    r"|\b(?:until|till|since|all\s+(?:day|night|week|month|year|summer|winter)|overnight|"
    r"forever|ages|(?:long|short)\s+time|(?:years|months|weeks|days)\s+(?:ago|later|before))\b",
    _I,
)
# "how old", "what share of …", "what was Harbour Vale's unemployment rate …"
_OTHER_FIGURE = re.compile(
    r"\b(?:how\s+old|what\s+(?:(?:is|was|were|are|will\s+be)\s+(?:[\w'’-]+\s+){0,4}?)?"
    r"(?:price|percentage|proportion|share|number|amount|figure|rate|sum|total|cost|revenue|"
    r"turnover|budget|turnout)s?"
    # "What's the fine for …?", "What was the fare?": a charge named after a determiner.
    r"|what(?:['’]s|\s+(?:is|was|were|are|will\s+be))\s+(?:the|a|an|their|his|her|its|our|your)"
    r"\s+(?:[\w'’-]+\s+){0,2}?(?:fine|fee|fare|salary|wage|rent)s?(?!\s+print))\b",
    _I,
)
_MONEY_QUESTION = re.compile(
    r"\b(?:cost\w*|spen[dt]\w*|pa(?:y|id|ys|ying)|price[sd]?|revenue\w*|fine[sd]?|budget\w*|"
    r"worth|charg\w+|fees?|invest\w*|bills?|cheaper|dearer|expensive|money|fund\w*|salar\w+|"
    r"earn\w*|sold|sell\w*|profit\w*|loss\w*|wages?)\b",
    _I,
)
_MONEY = re.compile(
    r"[$€£¥₽]|\b(?:pounds?|euros?|dollars?|roubles?|rubles?|yen|yuan|pence|cents?|francs?|"
    r"rupees?|crowns?|krona|kronor|krone|kroner|koruna|zloty|quid|bucks)\b",
    _I,
)
# "How much cheaper…?" is answered by a share as well as a sum: "25 percent less".
_CHANGE = re.compile(
    r"\b(?:cheaper|dearer|more|less|higher|lower|increas\w*|ris(?:e|es|en|ing)|rose|"
    r"f(?:a|e)ll\w*|cut\w*|drop\w*|grow\w*|grew|(?:go(?:es|ing)?|went|gone)\s+(?:up|down))\b",
    _I,
)
_PERCENT = r"%|\bper\s*cent\b|\bpercent"
# A share: "34 percent", "a third", "one in five", "nine out of ten".
_SHARE = re.compile(
    _PERCENT + r"|\b(?:half|halves|quarters?|thirds?|fifths?|tenths?)\b|"
    # "one passenger train in twenty", "9 out of 10" (not "720 million crowns in two berths")
    r"\b(?:one|\d{1,2})\s+(?:(?!(?:hundred|thousand|million|billion)\b)[\w'’-]+\s+){0,2}?"
    r"(?:in|out\s+of)\s+(?:every\s+)?(?:\d+|" + _NUMBER_WORDS + r")\b",
    _I,
)
# Sums are often said without their currency: "a 212 million programme", "3 billion".
_SCALE = re.compile(r"\b(?:millions?|billions?|trillions?|bn)\b", _I)


def figure_focus(question: str) -> tuple[str | None, tuple[str, ...]]:
    """What figure the question asks for: ("count", the words counted) for "how many …",
    ("money", ()) for a sum ("how much did it cost", "what price"), ("change", ()) for a change
    in one ("how much cheaper": a sum or a percentage), ("age", ()) for "how old"
    (a year answers it: "adopted in 1996"), ("share", ()) for a percentage or a fraction
    ("what share", "what was the unemployment rate"), ("any", ()) for another figure ("by how
    much"), (None, ()) for none. A "how much" that is not about money ("how much care does the
    chick need") asks for no figure."""
    if _HOW_LONG.search(question):
        return "duration", ()
    if _HOW_EXPENSIVE.search(question):
        return "money", ()
    many = _HOW_MANY.search(question)
    if many:
        return "count", tuple(w.lower() for w in re.findall(r"[\w'’-]+", many.group(1)))
    if _BY_HOW_MUCH.search(question):
        # "By how much is the bill going up?": a change in money, a sum or a percentage.
        money_change = _MONEY_QUESTION.search(question) and _CHANGE.search(question)
        return ("change", ()) if money_change else ("any", ())
    if _HOW_MUCH.search(question):
        if not _MONEY_QUESTION.search(question):
            return None, ()
        return ("change", ()) if _CHANGE.search(question) else ("money", ())
    asked = _OTHER_FIGURE.search(question)
    if asked is None:
        return None, ()
    word = asked.group().lower()
    if re.search(r"(?:price|cost|revenue|turnover|budget|fine|fee|fare|salary|wage|rent)s?$", word):
        # "What was the salary rise?": a percentage answers it as well as a sum.
        return ("change", ()) if _CHANGE.search(question) else ("money", ())
    if re.search(r"(?:percentage|proportion|share|rate|turnout)s?$", word):
        return "share", ()
    return ("age", ()) if word.startswith("how") else ("any", ())


# "What price per wet tonne…?", "How much per hectare…?": the unit the figure is counted in
# (not "per cent", "per se").
_PER_UNIT = re.compile(r"\bper\s+(?!cent\b|se\b|capita\b)([^\W\d_]{2,})(?:\s+([^\W\d_]{2,}))?", _I)
_FUNCTION_WORDS = frozenset(
    re.findall(
        r"\w+",
        "a an the and or of for in on at to from with by that this do does did is are was were "
        "will would can could should has have had than as",
    )
)


def per_unit(question: str) -> str | None:
    """The unit a rate is asked per ("tonne" in "What price per wet tonne…?"), or None. A
    figure of another kind ("eight million for the factory") does not answer it."""
    found = _PER_UNIT.search(question)
    if not found:
        return None
    first, second = found.group(1).lower(), (found.group(2) or "").lower()
    return second if second and second not in _FUNCTION_WORDS else first


def asks_for_figure(question: str) -> bool:
    """The question wants a number: an amount, a count, a share, an age."""
    return figure_focus(question)[0] is not None


def states_figure(text: str) -> bool:
    """The text gives a number that is not a year or a time of day."""
    if _STATES_FIGURE.search(text):
        return True
    return any(not _YEAR.fullmatch(m.group()) for m in _DIGITS.finditer(text))


def states_count(text: str) -> bool:
    """A number, or a word that answers "how many" without one ("some", "none", "one")."""
    return states_figure(text) or bool(_QUANTIFIER.search(text))


def states_money(text: str) -> bool:
    """A sum of money: a currency or a scale ("million") with a number."""
    return bool(_MONEY.search(text) or _SCALE.search(text)) and states_figure(text)


def states_change(text: str) -> bool:
    """A change in money: a sum, or a percentage ("25 percent less")."""
    return states_money(text) or bool(re.search(_PERCENT, text, _I)) and states_figure(text)


def states_share(text: str) -> bool:
    """A percentage or a fraction."""
    return bool(_SHARE.search(text))


def states_duration(text: str) -> bool:
    """A stretch of time or a length: "twenty-seven days", "for months", "until October"."""
    return bool(_DURATION.search(text))


def states_age(text: str) -> bool:
    """An age or when something began: a number, or a year (any digits will do)."""
    return bool(_STATES_FIGURE.search(text) or _DIGITS.search(text))


def states(kind: str | None, text: str) -> bool:
    """`text` gives a figure of `kind` (see `figure_focus`); any text does for None."""
    if kind is None:
        return True
    if kind == "money":
        return states_money(text)
    if kind == "change":
        return states_change(text)
    if kind == "age":
        return states_age(text)
    if kind == "share":
        return states_share(text)
    if kind == "count":
        return states_count(text)
    if kind == "duration":
        return states_duration(text)
    return states_figure(text)


# "When did the hub open?" asks about the past; "The hub opens next spring" says it has not
# happened, and so does not answer it (a near miss: the words match, the fact is not there).
_WHEN_PAST = re.compile(r"^\W*(?:and\s+|so\s+)?when\s+(?:did|was|were|had)\b", _I)
_SEASONS = r"spring|summer|autumn|fall|winter|year|month|week|weekend|quarter|season|term"
_DAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NAMES = "|".join(_MONTHS)
_FUTURE_TIME = re.compile(
    r"\b(?:next\s+(?:" + _SEASONS + "|" + _DAYS + "|" + _MONTH_NAMES + r")|in\s+the\s+coming\s+\w+"
    r"|later\s+this\s+(?:" + _SEASONS + r")|not\s+(?:yet|until)|(?:is|are)\s+due\s+to|"
    r"will\s+(?:open|start|begin|launch|finish|be\s+(?:ready|finished|completed|open)))\b",
    _I,
)
_PAST_TIME = re.compile(
    r"\b(?:last\s+(?:" + _SEASONS + "|" + _DAYS + "|" + _MONTH_NAMES + r")|ago|yesterday|"
    r"(?:opened|started|began|launched|finished|ended|was|were|had)\b)",
    _I,
)


_RELATIVE_YEAR = {"last year": -1, "this year": 0, "next year": 1}


def places_in(text: str, said: dt.date | None, since: dt.date, until: dt.date) -> bool:
    """The text places what it says between `since` and `until`: a year of that span, or,
    counted from the day `said`, "next year" (or "last"/"this") or a month's name whose
    nearest occurrence falls in it ("in January", said in November 2024, is January 2025)."""
    for year in re.findall(r"\b(?:1[89]|20)\d\d\b", text):
        if since.year <= int(year) <= until.year:
            return True
    if said is None:
        return False
    low = text.lower()
    for phrase, shift in _RELATIVE_YEAR.items():
        if phrase in low and since.year <= said.year + shift <= until.year:
            return True
    # Capitalised only: "we may" is not May.
    for month in re.findall(r"\b(?:" + _MONTH_NAMES + r")\b", text):
        first_days = (
            dt.date(y, _MONTHS.index(month) + 1, 1) for y in range(said.year - 1, said.year + 2)
        )
        if any(abs((d - said).days) <= 366 and since <= d <= until for d in first_days):
            return True
    return False


def asks_when_past(question: str) -> bool:
    """ "When did …?", "When was …?": the question takes it that the thing happened."""
    return bool(_WHEN_PAST.search(question))


def only_future(sentence: str) -> bool:
    """The sentence places what it says ahead ("opens next spring", "Next April.") and says
    nothing of the past."""
    return bool(_FUTURE_TIME.search(sentence)) and not _PAST_TIME.search(sentence)


_RISE = re.compile(
    r"\b(?:more|less|extra|additional|further|up|down|higher|lower|increas\w*|ris(?:e|es|en|ing)|"
    r"rose|rais\w*|f(?:a|e)ll\w*|cut\w*|drop\w*|grow\w*|grew|doubl\w*|halv\w*|revis\w*)\b",
    _I,
)


def states_rise(text: str) -> bool:
    """The text speaks of a change: "35 million more", "a pay rise of 3.5 percent"."""
    return bool(_RISE.search(text))
