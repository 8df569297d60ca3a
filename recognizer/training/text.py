"""Text the synthetic callers say: IVR-domain utterances mixed with general English.

Everything is generated from templates and word lists here (nothing is downloaded), normalised
to the model's alphabet: lowercase a-z, space and apostrophe, numbers spelled out.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINALS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def number_words(n: int) -> str:
    """Spell a non-negative integer below one billion the way a caller says it."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, rest = divmod(n, 10)
        return _TENS[tens] + ("" if rest == 0 else " " + _ONES[rest])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = _ONES[hundreds] + " hundred"
        return head if rest == 0 else f"{head} {number_words(rest)}"
    for size, word in ((1_000_000, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            head = f"{number_words(high)} {word}"
            return head if rest == 0 else f"{head} {number_words(rest)}"
    raise ValueError(f"number too large to spell: {n}")


def ordinal_words(n: int) -> str:
    """Spell an ordinal (1 -> first, 23 -> twenty third)."""
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINALS:
        words[-1] = _ORDINALS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _digits(rng: random.Random, count: int) -> str:
    """A digit string read digit by digit, zero often said as "oh"."""
    oh = rng.random() < 0.6
    out = []
    for _ in range(count):
        d = rng.randrange(10)
        out.append("oh" if d == 0 and oh else _ONES[d])
    return " ".join(out)


def normalise(text: str) -> str:
    """Lowercase, spell out digits, keep only a-z, space and apostrophe."""
    text = text.lower().replace("&", " and ").replace("%", " percent")
    text = re.sub(r"\d+", lambda m: " " + number_words(int(m.group())) + " ", text)
    text = text.replace("-", " ")
    text = re.sub(r"[^a-z' ]", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return re.sub(r"\s+", " ", text).strip()


_MENU = [
    "billing",
    "sales",
    "support",
    "technical",
    "support",
    "customer",
    "service",
    "account",
    "balance",
    "payments",
    "new",
    "account",
    "cancel",
    "my",
    "account",
    "orders",
    "order",
    "status",
    "returns",
    "refunds",
    "claims",
    "appointments",
    "reservations",
    "pharmacy",
    "prescriptions",
    "repairs",
    "outages",
    "internet",
    "tv",
    "mobile",
    "roaming",
    "upgrade",
    "opening",
    "hours",
    "locations",
    "directions",
    "lost",
    "card",
    "report",
    "fraud",
    "loans",
    "mortgages",
    "insurance",
]
_PEOPLE = [
    "agent",
    "operator",
    "representative",
    "human",
    "person",
    "somebody",
    "someone",
    "manager",
    "supervisor",
]
_YES = [
    "yes",
    "yeah",
    "yep",
    "yes please",
    "sure",
    "correct",
    "that's right",
    "that is correct",
    "absolutely",
    "of course",
    "okay",
    "ok yes",
    "right",
    "uh huh",
    "yes it is",
    "affirmative",
    "that's correct",
    "yes that's it",
]
_NO = [
    "no",
    "nope",
    "no thanks",
    "no thank you",
    "that's wrong",
    "that is not right",
    "incorrect",
    "not really",
    "no it isn't",
    "nah",
    "negative",
    "no that's not it",
    "wrong",
]
_FIRST = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "maria",
    "jose",
    "wei",
    "mohammed",
    "priya",
    "anna",
    "olga",
    "kevin",
    "brian",
    "emily",
    "laura",
    "daniel",
    "sophia",
    "oliver",
    "grace",
    "noah",
    "ava",
    "liam",
    "chloe",
]
_LAST = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "wilson",
    "anderson",
    "taylor",
    "thomas",
    "moore",
    "jackson",
    "martin",
    "lee",
    "thompson",
    "white",
    "harris",
    "clark",
    "lewis",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "green",
    "baker",
    "adams",
    "nelson",
    "hill",
    "campbell",
    "mitchell",
    "roberts",
]
_STREETS = [
    "main",
    "oak",
    "maple",
    "pine",
    "cedar",
    "elm",
    "washington",
    "lake",
    "hill",
    "park",
    "church",
    "high",
    "river",
]
_STREET_TYPES = ["street", "avenue", "road", "drive", "lane", "boulevard", "court", "way", "place"]
_CITIES = [
    "springfield",
    "boston",
    "chicago",
    "denver",
    "austin",
    "seattle",
    "portland",
    "phoenix",
    "dallas",
    "atlanta",
    "miami",
    "new york",
    "los angeles",
    "san diego",
    "houston",
    "detroit",
    "cleveland",
    "nashville",
    "orlando",
    "tampa",
]
_REQUESTS = [
    "i lost my card",
    "my card was stolen",
    "i want to pay my bill",
    "i'd like to check my balance",
    "i need to change my address",
    "i want to cancel my subscription",
    "my internet is not working",
    "i was charged twice",
    "i want to speak to someone about my bill",
    "can i make a payment",
    "i need to reset my password",
    "i'd like to book an appointment",
    "i need to reschedule",
    "where is my order",
    "my package never arrived",
    "i want to return an item",
    "i have a question about my statement",
    "i'd like to open a new account",
    "i want to upgrade my plan",
    "my phone is not working",
    "there's a problem with my service",
    "i need help with my account",
    "can you tell me your opening hours",
    "i'm calling about a refund",
    "i didn't receive my refund",
    "i want to report fraud",
    "i need a copy of my invoice",
    "how much do i owe",
    "when is my payment due",
    "i want to change my plan",
    "can i talk to a real person",
    "i'm moving house",
    "i'd like to set up automatic payments",
    "the power is out in my area",
    "i need to refill my prescription",
    "i'm locked out of my account",
    "i want to dispute a charge",
    "my bill is too high",
    "please transfer me",
    "i don't know my account number",
    "can you repeat that",
    "i didn't catch that",
    "go back",
    "main menu",
    "start over",
    "none of those",
    "help",
    "repeat",
    "cancel",
    "stop",
    "goodbye",
    "hello",
    "hi there",
]
_PROMPTS = [
    "thank you for calling",
    "please listen carefully as our menu options have changed",
    "for billing press one",
    "for sales press two",
    "please say or enter your account number",
    "your call is important to us",
    "please hold while we transfer your call",
    "all of our agents are currently busy",
    "please stay on the line",
    "you can say things like check my balance or pay my bill",
    "i'm sorry i didn't understand that",
    "did you say",
    "is that correct",
    "please enter your date of birth",
    "how can i help you today",
    "in a few words tell me why you're calling",
    "your estimated wait time is",
    "please press the pound key when finished",
    "to hear these options again press star",
    "goodbye and have a nice day",
]
_SUBJECTS = [
    "the weather",
    "my neighbour",
    "the children",
    "our team",
    "the old man",
    "a small dog",
    "the new manager",
    "everyone in the office",
    "my sister",
    "the train",
    "the government",
    "this company",
    "the doctor",
    "the kids next door",
    "her brother",
    "the teacher",
    "my friend",
    "the city council",
    "the bus driver",
]
_VERBS = [
    "was looking for",
    "decided to buy",
    "forgot about",
    "talked about",
    "could not find",
    "really liked",
    "will bring",
    "has finished",
    "wants to see",
    "is waiting for",
    "cleaned",
    "painted",
    "fixed",
    "ordered",
    "sold",
    "carried",
    "watched",
    "remembered",
    "called about",
    "wrote about",
]
_OBJECTS = [
    "the red car",
    "a cup of coffee",
    "the morning news",
    "an old book",
    "the kitchen table",
    "some fresh bread",
    "the broken window",
    "a new phone",
    "the garden",
    "the last train home",
    "the football game",
    "a letter from home",
    "the concert tickets",
    "the blue jacket",
    "the quarterly report",
    "a birthday cake",
    "the parking lot",
    "the school project",
    "a long holiday",
    "the weekend plans",
]
_TAILS = [
    "",
    "yesterday",
    "last week",
    "this morning",
    "before dinner",
    "after work",
    "on the way home",
    "in the rain",
    "every single day",
    "for the first time",
    "again",
    "at the weekend",
    "right now",
    "because it was late",
    "without telling anyone",
    "as soon as possible",
]
_GENERAL = [
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "it's a beautiful day outside",
    "we should probably leave before the traffic gets bad",
    "could you please close the door behind you",
    "i think it's going to rain later",
    "the meeting has been moved to thursday afternoon",
    "dinner will be ready in ten minutes",
    "what time does the store close tonight",
    "i haven't seen that movie yet",
    "they're planning a trip to the mountains",
    "he always drinks his coffee black",
    "the library is open until eight",
    "please remember to water the plants",
    "how was your weekend",
    "let me know if you need anything else",
    "the price of gas keeps going up",
    "my computer is running very slowly today",
    "we're out of milk and eggs",
    "turn left at the next light",
]


def _amount(rng: random.Random) -> str:
    dollars = rng.choice([rng.randrange(1, 20), rng.randrange(20, 1000), rng.randrange(1000, 9999)])
    cents = rng.randrange(100)
    style = rng.random()
    if style < 0.4:
        return f"{number_words(dollars)} dollars and {number_words(cents)} cents"
    if style < 0.7:
        return f"{number_words(dollars)} dollars"
    return f"{number_words(dollars)} {number_words(cents) if cents else 'even'}"


def _date(rng: random.Random) -> str:
    month = rng.choice(_MONTHS)
    day = rng.randrange(1, 29)
    year = rng.choice([rng.randrange(1940, 2000), rng.randrange(2000, 2030)])
    year_words = (
        f"{number_words(year // 100)} {number_words(year % 100)}"
        if year < 2000 or (year % 100 > 9 and rng.random() < 0.5)
        else number_words(year)
    )
    if rng.random() < 0.5:
        return f"{month} {ordinal_words(day)}"
    return f"{month} {ordinal_words(day)} {year_words}"


def _time(rng: random.Random) -> str:
    hour = rng.randrange(1, 13)
    minute = rng.choice([0, 15, 30, 45, rng.randrange(1, 60)])
    ampm = rng.choice(["a m", "p m", "in the morning", "in the afternoon", ""])
    if minute == 0:
        base = f"{number_words(hour)} o'clock" if rng.random() < 0.5 else number_words(hour)
    elif minute < 10:
        base = f"{number_words(hour)} oh {number_words(minute)}"
    else:
        base = f"{number_words(hour)} {number_words(minute)}"
    return f"{base} {ampm}".strip()


def _spelled(rng: random.Random) -> str:
    word = rng.choice(_LAST + _FIRST)
    letters = " ".join(word[: rng.randrange(3, 8)])
    return rng.choice([letters, f"that's {letters}", f"{word} {letters}"])


def _ivr(rng: random.Random) -> str:  # noqa: C901 (one branch per kind of utterance)
    kind = rng.randrange(14)
    if kind == 0:
        menu = rng.choice(_MENU)
        return rng.choice([menu, f"{menu} please", f"i need {menu}", f"i want {menu}"])
    if kind == 1:
        person = rng.choice(_PEOPLE)
        article = "an" if person[0] in "aeiou" else "a"
        return rng.choice(
            [
                person,
                f"{person} please",
                f"talk to {article} {person}",
                f"let me speak to a {person}",
            ]
        )
    if kind == 2:
        return rng.choice(_YES)
    if kind == 3:
        return rng.choice(_NO)
    if kind == 4:
        digits = _digits(rng, rng.randrange(4, 11))
        return rng.choice([digits, f"my account number is {digits}", f"it's {digits}"])
    if kind == 5:
        phone = f"{_digits(rng, 3)} {_digits(rng, 3)} {_digits(rng, 4)}"
        return rng.choice([phone, f"my phone number is {phone}", f"call me back on {phone}"])
    if kind == 6:
        return rng.choice(["", "i want to pay ", "the amount is ", "i paid "]) + _amount(rng)
    if kind == 7:
        return rng.choice(["", "my date of birth is ", "on ", "next "]) + _date(rng)
    if kind == 8:
        day = rng.choice(_DAYS)
        return rng.choice(
            [
                _time(rng),
                f"{day} at {_time(rng)}",
                f"{day} {rng.choice(['morning', 'afternoon', 'evening'])}",
            ]
        )
    if kind == 9:
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        return rng.choice([name, f"my name is {name}", f"this is {name}"])
    if kind == 10:
        num = number_words(rng.randrange(1, 9999))
        addr = f"{num} {rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}"
        return rng.choice([addr, f"i live at {addr}", f"{addr} {rng.choice(_CITIES)}"])
    if kind == 11:
        return _spelled(rng)
    if kind == 12:
        return rng.choice(_PROMPTS)
    option = number_words(rng.randrange(0, 10))
    return rng.choice([option, f"option {option}", f"press {option}", f"{rng.choice(_REQUESTS)}"])


def _general(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return rng.choice(_GENERAL)
    tail = rng.choice(_TAILS)
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {tail}".strip()


@dataclass(frozen=True)
class Utterance:
    """One sentence to synthesise and the domain it stands for in evaluation."""

    text: str
    domain: str  # "ivr", "general", "words" or "sentences"


def generate(seed: int, count: int, general_share: float = 0.3) -> Iterator[Utterance]:
    """Yield ``count`` normalised utterances; the same seed gives the same list."""
    rng = random.Random(seed)  # noqa: S311 (training-data randomness, not security)
    makers: dict[str, Callable[[random.Random], str]] = {"ivr": _ivr, "general": _general}
    produced = 0
    while produced < count:
        domain = "general" if rng.random() < general_share else "ivr"
        text = normalise(makers[domain](rng))
        if text:
            produced += 1
            yield Utterance(text=text, domain=domain)


def lm_corpus(seed: int, count: int) -> Iterator[str]:
    """Sentences for the n-gram LM: more of the same generators, a different seed."""
    for utt in generate(seed, count, general_share=0.35):
        yield utt.text


#: CMU dictionary (Debian ``pocketsphinx-en-us``): the open vocabulary for the "words" stream
#: and the LM's general unigrams.
CMUDICT = Path("/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict")
#: Words of the hot-word benchmark's invented names and of its calibration names
#: (``bench/hotwords.py``; a test keeps the two in step): no training text has them, so the
#: benchmark hears names the model never heard.
HELD_OUT_WORDS = frozenset(
    [
        "zorblax",
        "quentara",
        "vexillon",
        "brightwater",
        "mutual",
        "calloway",
        "finch",
        "nimbus",
        "prime",
        "ardent",
        "solar",
        "pellucid",
        "bank",
        "moravec",
        "tessaly",
        "orbion",
        "plus",
        "kestrel",
        "freight",
        "valtrix",
        "sonderberg",
        "halvorsen",
        "group",
        "quillon",
        "tech",
        "marisol",
        "ortega",
        "zentrope",
        "duvall",
        "insurance",
        "amberlight",
        "corvanta",
        "pinnacle",
        "ridge",
        "oberlin",
        "trivella",
    ]
)
#: Carrier phrases for dictionary words (not the hot-word benchmark's templates).
_CARRIERS = [
    "{}",
    "{}",
    "{} please",
    "it's called {}",
    "the name is {}",
    "i'm calling about {}",
    "can you look up {}",
    "put me through to {}",
    "that's {}",
    "we talked about {} yesterday",
    "send it to {}",
    "does {} work",
]


def dictionary_words(path: Path = CMUDICT) -> list[str]:
    """Plain a-z/apostrophe headwords of the CMU dictionary (empty if it is not installed)."""
    if not path.exists():
        return []
    words = {line.split(" ", 1)[0] for line in path.read_text(errors="replace").splitlines()}
    return sorted(w for w in words if w and set(w) <= set("abcdefghijklmnopqrstuvwxyz'"))


def word_utterances(seed: int, count: int, path: Path = CMUDICT) -> Iterator[Utterance]:
    """Dictionary words no generator list has (mostly rare words and surnames), one to three
    in a carrier phrase: they teach the model to spell what it hears, not a fixed vocabulary,
    which is what names, hot words and real callers' words need."""
    if count == 0:  # no word clips planned: do not read the dictionary
        return
    vocabulary = [
        w
        for w in dictionary_words(path)
        if 3 <= len(w) <= 14 and w not in HELD_OUT_WORDS and re.search("[aeiouy]", w)
    ]
    if not vocabulary:
        raise FileNotFoundError(
            f"{path} is missing: install Debian's pocketsphinx-en-us for the word clips"
        )
    rng = random.Random(seed)  # noqa: S311 (training-data randomness, not security)
    for _ in range(count):
        words = " ".join(rng.choices(vocabulary, k=rng.choice([1, 1, 2, 2, 3])))
        yield Utterance(text=normalise(rng.choice(_CARRIERS).format(words)), domain="words")


#: Natural English sentences from Debian packages (``wordnet-base``: the usage examples of
#: WordNet's glosses; ``fortunes``): real phrasing over a vocabulary of tens of thousands of
#: words, for the "sentences" stream.
WORDNET_DIR = Path("/usr/share/wordnet")
FORTUNES_DIR = Path("/usr/share/games/fortunes")


def corpus_sentences(wordnet: Path = WORDNET_DIR, fortunes: Path = FORTUNES_DIR) -> list[str]:
    """Normalised, de-duplicated sentences of 2-20 words without held-out words, sorted."""
    raw: list[str] = []
    for data in sorted(wordnet.glob("data.*")):
        for line in data.read_text(encoding="latin-1").splitlines():
            if not line.startswith("  ") and "|" in line:
                raw += re.findall(r'"([^"]+)"', line.split("|", 1)[1])
    if fortunes.is_dir():
        for path in sorted(p for p in fortunes.iterdir() if p.is_file() and not p.suffix):
            text = path.read_text(encoding="utf-8", errors="replace")
            for fortune in text.split("\n%\n"):
                body = fortune.split("\t\t--")[0].split("\n--")[0]
                if re.search(r"[<>{}\[\]|@#$^*_=\\/~`]", body):
                    continue  # code, ASCII art, addresses
                raw += re.split(r"(?<=[.!?])\s+", " ".join(body.split()))
    sentences = set()
    for sentence in raw:
        text = normalise(sentence)
        words = text.split()
        if 2 <= len(words) <= 20 and not HELD_OUT_WORDS.intersection(words):
            sentences.add(text)
    return sorted(sentences)


def split_sentences(split: str) -> list[str]:
    """The corpus sentences of one split: one in ten (by a hash of its text) is dev, so the
    training clips and the LM never see a dev sentence."""
    return [s for s in corpus_sentences() if (zlib.crc32(s.encode()) % 10 == 0) == (split == "dev")]


def sentence_utterances(seed: int, count: int, split: str) -> Iterator[Utterance]:
    """Corpus sentences of ``split`` in random order."""
    if count == 0:
        return
    pool = split_sentences(split)
    if not pool:
        raise FileNotFoundError(
            f"no sentences under {WORDNET_DIR}: install Debian's wordnet-base and fortunes"
        )
    rng = random.Random(seed)  # noqa: S311 (training-data randomness, not security)
    for _ in range(count):
        yield Utterance(text=rng.choice(pool), domain="sentences")


#: Company words that follow an invented name ("zelvora logistics"); none is a benchmark word.
_NAME_SUFFIXES = [
    "systems", "labs", "holdings", "partners", "logistics", "energy", "health", "motors",
    "airlines", "media", "foods", "capital", "industries", "software", "telecom", "pharma",
    "electric", "consulting", "dental", "realty", "travel", "credit union", "and sons",
]  # fmt: skip
#: Carriers for invented names: the way callers and prompts put a name in a sentence (none is a
#: hot-word benchmark template).
_NAME_CARRIERS = [
    *_CARRIERS,
    "i'd like to talk to someone at {}",
    "i'm a customer of {}",
    "this is about my {} account",
    "connect me with {} please",
    "i have an order from {}",
    "is {} open today",
]
#: Shortest and longest invented word, and how close one may come to a benchmark word (difflib
#: ratio): the benchmark's names must stay names the model never heard.
_NAME_LENGTHS = (4, 10)
_HELD_OUT_RESEMBLANCE = 0.7


class NameInventor:
    """Pronounceable words that are in no dictionary, like the names companies and products
    invent ("elactus", "luerina"): a letter trigram chain over the CMU dictionary's words.
    None is a dictionary word or resembles a word of the hot-word benchmark."""

    def __init__(self, path: Path = CMUDICT) -> None:
        vocabulary = [w for w in dictionary_words(path) if "'" not in w]
        if not vocabulary:
            raise FileNotFoundError(
                f"{path} is missing: install Debian's pocketsphinx-en-us for the name clips"
            )
        self.known = set(vocabulary)
        self.chain: dict[str, list[str]] = {}
        for word in vocabulary:
            padded = f"^^{word}$"
            for i in range(len(padded) - 2):
                self.chain.setdefault(padded[i : i + 2], []).append(padded[i + 2])

    def word(self, rng: random.Random) -> str:
        """One invented word; the same draws of `rng` give the same word."""
        shortest, longest = _NAME_LENGTHS
        while True:
            word = "^^"
            while not word.endswith("$") and len(word) <= longest + 3:
                word += rng.choice(self.chain[word[-2:]])
            word = word.strip("^$")
            if (
                shortest <= len(word) <= longest
                and word not in self.known
                and re.search("[aeiouy]", word)
                and not any(
                    SequenceMatcher(None, word, held).ratio() >= _HELD_OUT_RESEMBLANCE
                    for held in HELD_OUT_WORDS
                )
            ):
                return word


def name_utterances(seed: int, count: int, path: Path = CMUDICT) -> Iterator[Utterance]:
    """Invented names (an invented word alone, with a company word, after a first name, or two
    of them) in carrier phrases: hot words are names like these, which no dictionary or LM
    holds, so the model must learn to spell what it hears in them."""
    if count == 0:
        return
    inventor = NameInventor(path)
    rng = random.Random(seed)  # noqa: S311 (training-data randomness, not security)
    for _ in range(count):
        kind = rng.random()
        name = inventor.word(rng)
        if kind < 0.3:
            name = f"{name} {rng.choice(_NAME_SUFFIXES)}"
        elif kind < 0.45:
            name = f"{rng.choice(_FIRST)} {name}"
        elif kind < 0.55:
            name = f"{name} {inventor.word(rng)}"
        text = normalise(rng.choice(_NAME_CARRIERS).format(name))
        yield Utterance(text=text, domain="names")
