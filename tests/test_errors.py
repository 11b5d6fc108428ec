"""Input checks: bad class names and prompts fail early with a message that says what to fix."""

from __future__ import annotations

import pytest

from lgclip_core.errors import BadInputError, MissingAssetError, UnknownNameError, check_class_names, check_prompts
from lgclip_core.prompts import TemplateWriter, write_prompts


@pytest.mark.parametrize(("names", "match"), [
    ([], "empty"),
    ("cat", "list of strings"),
    (None, "list of strings"),
    (["cat", 3], "#1 is int"),
    (["cat", "  "], "#1 is empty or blank"),
    (["cat", ""], "#1 is empty"),
    (["Cat", "dog", " cat "], "duplicate class name ' cat ' \\(positions 0 and 2\\)"),
])
def test_bad_class_names(names: object, match: str) -> None:
    with pytest.raises(BadInputError, match=match):
        check_class_names(names)


def test_good_class_names_pass_through() -> None:
    assert check_class_names(("T-shirt/top", "Bag")) == ["T-shirt/top", "Bag"]
    assert check_class_names(iter(["a"])) == ["a"]


@pytest.mark.parametrize(("prompts", "match"), [
    ([], "empty"),
    ("a photo of a cat", "wrap a single prompt in a list"),
    (["ok", None], "#1 is NoneType"),
    (["ok", " "], "#1 is empty"),
])
def test_bad_prompts(prompts: object, match: str) -> None:
    with pytest.raises(BadInputError, match=match):
        check_prompts(prompts)


def test_prompts_may_repeat() -> None:  # the paper feeds the same description to every seed
    assert check_prompts(["a", "a"]) == ["a", "a"]


def test_errors_are_value_and_key_errors() -> None:
    assert issubclass(BadInputError, ValueError)
    e = UnknownNameError("dataset", "imagenet21k", ["b", "a"])
    assert isinstance(e, KeyError) and str(e) == "unknown dataset 'imagenet21k'; registered datasets: a, b"
    m = MissingAssetError("x", "pip install x", "not found")
    assert str(m) == "offline asset 'x' is missing (not found). Install it with: pip install x"


@pytest.mark.parametrize("n", [0, -1, 2.5, True, "3"])
def test_writers_reject_bad_n(n: object) -> None:
    with pytest.raises(BadInputError, match="n \\(prompts per class\\)"):
        TemplateWriter("t", "a photo of a {}.").write(["cat"], n=n)  # type: ignore[arg-type]


def test_writers_reject_bad_class_names(tmp_cache) -> None:
    w = TemplateWriter("t", "a photo of a {}.")
    with pytest.raises(BadInputError, match="duplicate"):
        w.write(["cat", "Cat"])
    with pytest.raises(BadInputError, match="empty"):
        write_prompts(w, [], cache=tmp_cache)
    assert tmp_cache.misses == 0


def test_template_needs_one_placeholder() -> None:
    with pytest.raises(BadInputError, match="exactly one"):
        TemplateWriter("t", "a photo")


def test_a_classifier_needs_two_classes():
    import numpy as np

    from lgclip_core.prototypes import PrototypeClassifier

    with pytest.raises(BadInputError, match="at least 2"):
        PrototypeClassifier().fit(np.eye(3, dtype=np.float32), np.zeros(3, int))


def test_duplicate_classes_are_refused_by_the_estimator() -> None:
    import numpy as np

    from lgclip_core.prototypes import PrototypeClassifier

    with pytest.raises(BadInputError, match="duplicate class name 'bag'"):
        PrototypeClassifier(classes=["bag", "bag"]).fit(np.eye(2), ["bag", "bag"])
    with pytest.raises(BadInputError, match="duplicate class name"):
        PrototypeClassifier(classes=["Bag", "bag "]).fit(np.eye(2), ["Bag", "bag "])
    with pytest.raises(BadInputError, match="duplicate class label 0"):
        PrototypeClassifier(classes=[0, 0, 1]).fit(np.eye(3), [0, 0, 1])


def test_generators_warn_once_where_names_and_prompts_enter() -> None:
    """A name the offline generator cannot read (an emoji becomes [UNK]; a 103-token name keeps 32 tokens) is
    flagged where it enters the generator, once per name; prompts with unknown characters too."""
    import warnings

    from lgclip_core import zoo
    from lgclip_core.errors import TextLimitWarning

    gen = zoo.load("generator")
    long_name = " ".join(["handbag"] * 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = gen.warn_class_names(["bag", "👜", long_name])
        again = gen.warn_class_names(["👜", long_name])
        prompts = gen.warn_text_limits(["a 🧦 on a table.", "a " + "long " * 80 + "sock."])
    assert len(first) == 2 and again == [] and len(prompts) == 1  # a long description is not flagged
    assert "[UNK]" in first[0] and "keeps the first 32" in first[1] and "🧦" in prompts[0]
    assert all(issubclass(w.category, TextLimitWarning) for w in caught) and len(caught) == 3
