"""Captions the offline generator is trained on: Fashion-MNIST classes x synonyms x templates x attributes.

T2I-PAL's caption writer (``t2ipal/captions.py``) reuses the synonyms, so both papers name a garment the same ways.
"""

from __future__ import annotations

import numpy as np

from ..data import FASHION_MNIST_PROMPT_NAMES

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


def build_captions(seed: int = 0, per_class: int = 120) -> list[list[str]]:
    """Varied captions per class (templates x synonyms x attributes), deterministic by seed."""
    rng = np.random.default_rng(seed)
    out = []
    for cls in FASHION_MNIST_PROMPT_NAMES:
        caps: set[str] = set()
        while len(caps) < per_class:
            t = TEMPLATES[rng.integers(len(TEMPLATES))]
            s = CLASS_SYNONYMS[cls][rng.integers(len(CLASS_SYNONYMS[cls]))]
            caps.add(t.format(s=s, a=ATTRIBUTES[rng.integers(len(ATTRIBUTES))]))
        out.append(sorted(caps))
    return out
