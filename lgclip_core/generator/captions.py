"""Captions the offline generators are trained on: classes x synonyms x templates x attributes, one recipe per
offline data set (``CAPTION_RECIPES``: Fashion-MNIST garments, handwritten digits).

T2I-PAL's caption writer (``t2ipal/captions.py``) reuses the synonyms, so both papers name a garment the same ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import DIGIT_CLASSES, DIGIT_PROMPT_NAMES, FASHION_MNIST_PROMPT_NAMES
from ..errors import UnknownNameError

CLASS_SYNONYMS: dict[str, list[str]] = {
    "t-shirt": ["t-shirt", "T-shirt", "tee", "tee shirt", "T-shirt/top", "short-sleeved top", "top"],
    "trousers": ["trousers", "pair of trousers", "pants", "pair of pants", "jeans", "slacks", "Trouser"],
    "pullover": ["pullover", "sweater", "jumper", "knitted pullover", "Pullover", "long-sleeved sweater"],
    "dress": ["dress", "Dress", "gown", "frock", "summer dress", "sleeveless dress"],
    "coat": ["coat", "Coat", "jacket", "overcoat", "winter coat", "zip-up jacket"],
    "sandal": ["sandal", "Sandal", "strappy sandal", "flip-flop", "open-toe sandal", "summer sandal"],
    "shirt": ["shirt", "Shirt", "button-up shirt", "collared shirt", "blouse", "dress shirt", "button-down shirt"],
    "sneaker": ["sneaker", "Sneaker", "trainer", "running shoe", "sports shoe", "canvas sneaker"],
    "bag": ["bag", "Bag", "handbag", "purse", "tote bag", "shoulder bag", "backpack"],
    "ankle boot": ["ankle boot", "Ankle boot", "boot", "short boot", "leather boot", "heeled ankle boot"],
}
TEMPLATES = [
    "{s}", "a {s}", "a photo of a {s}.", "A photo of a {s}.", "a photo of the {s}.",
    "a black and white photo of a {s}.",
    "a grayscale image of a {s}.", "a product photo of a {s}.", "a low resolution photo of a {s}.",
    "an image of a {s}.", "a centered photo of a {s} on a black background.", "a picture of a {a} {s}.",
    "a photo of a {a} {s}.", "a {a} {s}", "a small photo of a {s}.", "a clothing catalog image of a {s}.",
    "{s}, which has a {a} look.", "{s}, which has a {a} texture and a typical shape.",
    "{s}, which has a {a} colour and is seen from the front.", "{s}, which has a simple shape.",
]
ATTRIBUTES = ["plain", "dark", "light", "striped", "patterned", "printed", "grey", "black", "white", "bright",
              "classic", "casual", "simple", "textured", "smooth", "soft", "cotton", "leather"]


_DIGIT_NUMERALS = dict(zip(DIGIT_CLASSES, "0123456789", strict=True))
DIGIT_SYNONYMS: dict[str, list[str]] = {
    f"handwritten digit {c}": [f"handwritten digit {c}", f"digit {c}", f"digit {n}", f"handwritten {n}",
                               f"number {c}", f"numeral {n}", f"handwritten number {c}", c, n]
    for c, n in _DIGIT_NUMERALS.items()}
DIGIT_TEMPLATES = [
    "{s}", "a {s}", "a photo of a {s}.", "A photo of a {s}.", "a scan of a {s}.", "a low resolution image of a {s}.",
    "a tiny grey image of a {s}.", "a {a} {s}", "a {s} written by hand.", "a {s} written with a {a} stroke.",
    "{s}, which has a {a} stroke.", "{s}, which has a {a} shape and is centred.", "a picture of a {a} {s}.",
    "{s}, which has a simple shape.", "a blurry {s}.",
]
DIGIT_ATTRIBUTES = ["thin", "thick", "bold", "slanted", "upright", "neat", "messy", "rounded", "narrow", "wide",
                    "faint", "dark", "small", "large", "curly", "straight"]


@dataclass(frozen=True)
class CaptionRecipe:
    """How one data set's classes are described: synonyms per prompt name, templates and attributes."""

    class_names: list[str]  # the data set's prompt names, in label order
    synonyms: dict[str, list[str]]
    templates: list[str]
    attributes: list[str]


CAPTION_RECIPES: dict[str, CaptionRecipe] = {
    "fashion-mnist": CaptionRecipe(FASHION_MNIST_PROMPT_NAMES, CLASS_SYNONYMS, TEMPLATES, ATTRIBUTES),
    "digits": CaptionRecipe(DIGIT_PROMPT_NAMES, DIGIT_SYNONYMS, DIGIT_TEMPLATES, DIGIT_ATTRIBUTES),
}


def build_captions(seed: int = 0, per_class: int = 120, dataset: str = "fashion-mnist") -> list[list[str]]:
    """Varied captions per class (templates x synonyms x attributes), deterministic by seed."""
    if dataset not in CAPTION_RECIPES:
        raise UnknownNameError("caption recipe (data set)", dataset, list(CAPTION_RECIPES))
    r = CAPTION_RECIPES[dataset]
    rng = np.random.default_rng(seed)
    out = []
    for cls in r.class_names:
        caps: set[str] = set()
        while len(caps) < per_class:
            t = r.templates[rng.integers(len(r.templates))]
            s = r.synonyms[cls][rng.integers(len(r.synonyms[cls]))]
            caps.add(t.format(s=s, a=r.attributes[rng.integers(len(r.attributes))]))
        out.append(sorted(caps))
    return out
