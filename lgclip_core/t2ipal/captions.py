"""Captions that name classes: written (templates or a chat LLM), then filtered and parsed into labels.

TaI-DPT and T2I-PAL take captions from a caption corpus (MS-COCO captions), keep those that mention at least
one class name (or a synonym), and use the mentioned classes as the caption's labels: the text supervises
itself. Offline there is no caption corpus, so captions are *written* two ways, and pass the same filter:

* ``template_captions``: multi-object sentence templates filled with class synonyms (and adjectives), with
  1..4 distinct classes per caption, deterministic by seed — a stand-in for mined captions;
* ``llm_captions``: a chat LLM is asked for one sentence describing a photo that shows a given set of items.
  A small model often drops an item or adds one; the labels come from what the sentence *says* (the parse),
  never from what was asked, exactly as for mined captions, and sentences that name no class are dropped.

Parsing is longest-match-first on word boundaries with optional plural endings, so "dress shirt" is a
shirt (not a dress) and "t-shirt" is not also a "shirt". Ambiguous words ("top", as in "on top of") are not
synonyms. Each named item is later rendered alone from ``"a photo of a {surface}."`` with the caption's own
word (``render_prompts``), so that a "jeans" caption yields jeans, not generic trousers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cache import ArtifactCache, default_cache
from ..errors import BadInputError, check_class_names

__all__ = ["ClassVocabulary", "CaptionSet", "template_captions", "llm_captions", "filter_captions",
           "render_prompts", "fashion_vocabulary", "digits_vocabulary", "VOCABULARIES",
           "CAPTION_TEMPLATES", "ADJECTIVES"]

# Single-word synonyms that are too ambiguous in free text to count as a mention.
AMBIGUOUS = {"top", "Top"}


class ClassVocabulary:
    """Class names and their surface forms; ``find(text)`` -> mentioned (class index, surface form)."""

    def __init__(self, classnames: Sequence[str], synonyms: Mapping[str, Sequence[str]] | None = None):
        self.classnames = check_class_names(classnames)
        synonyms = synonyms or {}
        self.forms: dict[int, list[str]] = {}
        for i, c in enumerate(self.classnames):
            forms = [c, *synonyms.get(c, [])]
            seen: list[str] = []
            for f in forms:
                f = " ".join(f.split())
                if f and f not in AMBIGUOUS and f.lower() not in [s.lower() for s in seen]:
                    seen.append(f)
            self.forms[i] = seen
        # Longest first, so a multi-word form wins over its last word.
        entries = sorted(((f, i) for i, fs in self.forms.items() for f in fs), key=lambda e: -len(e[0]))
        self._owner = {f.lower(): i for f, i in reversed(entries)}
        alternatives = "|".join(re.escape(f) for f, _ in entries)
        self._pattern = re.compile(rf"(?<![\w-])({alternatives})(?:e?s)?(?![\w-])", re.IGNORECASE)

    def config(self) -> dict[str, Any]:
        return {"classnames": self.classnames, "forms": {self.classnames[i]: f for i, f in self.forms.items()}}

    def find(self, text: str) -> list[tuple[int, str]]:
        """Distinct classes mentioned in ``text`` in order of first mention, each with the words used."""
        out: dict[int, str] = {}
        for m in self._pattern.finditer(text):
            cls = self._owner[m.group(1).lower()]
            out.setdefault(cls, m.group(1).lower())
        return list(out.items())


def fashion_vocabulary() -> ClassVocabulary:
    """Fashion-MNIST's sentence names with the synonyms the offline generator was trained on."""
    from ..data import FASHION_MNIST_PROMPT_NAMES
    from ..generator.captions import CLASS_SYNONYMS

    return ClassVocabulary(FASHION_MNIST_PROMPT_NAMES, CLASS_SYNONYMS)


def digits_vocabulary() -> ClassVocabulary:
    """The digits' sentence names with the generator's synonyms that name a digit unambiguously: a bare "7" or
    "seven" in a caption may count objects ("two bags"), so only forms of two or more words are kept."""
    from ..data import DIGIT_PROMPT_NAMES
    from ..generator.captions import DIGIT_SYNONYMS

    return ClassVocabulary(DIGIT_PROMPT_NAMES, {c: [f for f in forms if " " in f] for c, forms in
                                                DIGIT_SYNONYMS.items()})


# each offline data set's vocabulary (other data sets: their prompt names alone)
VOCABULARIES = {"fashion-mnist": fashion_vocabulary, "digits": digits_vocabulary}


# --------------------------------------------------------------------------------------------- writing
CAPTION_TEMPLATES = [
    "a photo of {items}.", "a flat lay of {items} on a black floor.", "{items} laid out on a dark table.",
    "a picture showing {items}.", "there is {items} in this photo.", "a black and white photo of {items}.",
    "a shop window with {items}.", "{items} next to each other.", "an overhead shot of {items}.",
    "a wardrobe photo with {items}.", "a catalog page showing {items}.", "my packing for the trip: {items}.",
]
ADJECTIVES = ["", "", "", "plain ", "dark ", "light ", "striped ", "black ", "white ", "grey ", "old ", "new ",
              "casual ", "leather ", "cotton ", "small "]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def template_captions(vocab: ClassVocabulary, n: int, seed: int, min_items: int = 1,
                      max_items: int = 4) -> list[str]:
    """``n`` multi-object captions, 1..4 distinct classes each, synonyms and adjectives drawn by seed."""
    if n < 1:
        raise BadInputError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng([seed, 3])
    k_max = min(max_items, len(vocab.classnames))
    out = []
    for _ in range(n):
        k = int(rng.integers(min_items, k_max + 1))
        phrases = []
        for c in rng.choice(len(vocab.classnames), size=k, replace=False):
            forms = vocab.forms[int(c)]
            word = forms[int(rng.integers(len(forms)))]
            adj = ADJECTIVES[int(rng.integers(len(ADJECTIVES)))]
            phrase = f"{adj}{word}"
            phrases.append(f"{_article(phrase)} {phrase}")
        out.append(CAPTION_TEMPLATES[int(rng.integers(len(CAPTION_TEMPLATES)))].format(items=_join(phrases)))
    return out


CAPTION_SYSTEM = "You write short captions for photos. Answer with exactly one plain sentence."
CAPTION_TOKENS = 40  # a one-sentence caption's budget


def _caption_requests(vocab: ClassVocabulary, n: int, seed: int, max_items: int) -> list[list[int]]:
    rng = np.random.default_rng([seed, 4])
    k_max = min(max_items, len(vocab.classnames))
    return [sorted(int(c) for c in rng.choice(len(vocab.classnames), size=int(rng.integers(1, k_max + 1)),
                                              replace=False)) for _ in range(n)]


def llm_captions(writer: Any, vocab: ClassVocabulary, n: int, seed: int, max_items: int = 4,
                 batch_size: int | None = None, cache: ArtifactCache | None = None,
                 progress: bool = False) -> list[str]:
    """``n`` one-sentence captions from a chat LLM (``writer`` = a ``prompts.LLMWriter``), each asked to describe a
    photo showing a seeded random set of 1..4 items. Caption i is sampled with its own seed (``seed``, i), so it
    does not depend on the batch it is decoded in; ``batch_size`` (default the writer's ``batch_rows``) captions
    are decoded together and cached together, so an interrupted run resumes at the batch where it stopped."""
    from tqdm.auto import tqdm

    cache = cache or default_cache()
    requests = _caption_requests(vocab, n, seed, max_items)
    size = int(batch_size or writer.batch_rows)
    out: list[str] = []
    for b in tqdm(range(0, n, size), desc=f"captions ({writer.name})", disable=not progress, leave=False):
        asks = [_join([f"{_article(vocab.classnames[c])} {vocab.classnames[c]}" for c in req])
                for req in requests[b:b + size]]
        seeds = [seed * 1_000_003 + i for i in range(b, b + len(asks))]

        def build(asks: list[str] = asks, seeds: list[int] = seeds) -> list[str]:
            chats = [writer.tokenizer.apply_chat_template(
                [{"role": "system", "content": CAPTION_SYSTEM},
                 {"role": "user", "content": f"Write a one-sentence caption for a photo that shows {a}."}],
                add_generation_prompt=True, tokenize=False) for a in asks]
            return [_first_sentence(r) for r in writer.sample_chats(chats, seeds, max_new_tokens=CAPTION_TOKENS)]

        parts = {"writer": writer.config(), "system": CAPTION_SYSTEM, "asks": asks, "seeds": seeds,
                 "max_new_tokens": CAPTION_TOKENS, "version": 2}
        out.extend(cache.json("captions", parts, build))
    return out


def _first_sentence(text: str) -> str:
    text = " ".join(text.strip().strip('"').split("\n", 1)[0].split())
    m = re.search(r"[.!?](?=\s|$)", text)
    return text[:m.end()] if m else text


# ------------------------------------------------------------------------------------------- filtering
@dataclass
class CaptionSet:
    """Captions kept by the filter, their multi-hot ``targets`` (N, C) and the words that named each item."""

    texts: list[str]
    targets: np.ndarray
    mentions: list[list[tuple[int, str]]]
    classnames: list[str]
    stats: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # per kept caption: the writer that wrote it, when given

    def __len__(self) -> int:
        return len(self.texts)


def filter_captions(captions: Sequence[str], vocab: ClassVocabulary, max_items: int = 4,
                    sources: Sequence[str] | None = None) -> CaptionSet:
    """Keep the captions naming 1..``max_items`` classes (duplicates dropped); labels = the classes named.

    ``max_items`` is ours, not the paper's: a 2x2 canvas holds at most four items. ``sources[i]`` names the
    writer of caption i (e.g. "template", "LLM"); the kept captions keep theirs in ``CaptionSet.sources``.
    """
    if sources is not None and len(sources) != len(captions):
        raise BadInputError(f"{len(sources)} sources for {len(captions)} captions: give one source per caption")
    texts, mentions, kept_sources, seen = [], [], [], set()
    stats = {"input": len(captions), "no_class": 0, "too_many": 0, "duplicate": 0}
    for i, c in enumerate(captions):
        c = " ".join(str(c).split())
        found = vocab.find(c)
        if not found:
            stats["no_class"] += 1
        elif len(found) > max_items:
            stats["too_many"] += 1
        elif c.lower() in seen:
            stats["duplicate"] += 1
        else:
            seen.add(c.lower())
            texts.append(c)
            mentions.append(found)
            if sources is not None:
                kept_sources.append(sources[i])
    targets = np.zeros((len(texts), len(vocab.classnames)), np.int64)
    for i, m in enumerate(mentions):
        targets[i, [c for c, _ in m]] = 1
    stats["kept"] = len(texts)
    return CaptionSet(texts, targets, mentions, vocab.classnames, stats, kept_sources)


def render_prompts(captions: CaptionSet, template: str = "a photo of a {}.") -> tuple[list[str], np.ndarray,
                                                                                      list[list[int]]]:
    """One generator prompt per named item: (prompts, class of each prompt, indices of each caption's items)."""
    prompts: list[str] = []
    classes: list[int] = []
    groups: list[list[int]] = []
    for m in captions.mentions:
        groups.append(list(range(len(prompts), len(prompts) + len(m))))
        for c, surface in m:
            prompts.append(template.format(surface))
            classes.append(c)
    return prompts, np.asarray(classes, np.int64), groups
