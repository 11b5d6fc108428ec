"""One validator for run parameters: the CLI's options and every chapter's ``parameters`` cell.

Why: a wrong value (``N_IMAGES = "ten"``, ``--n-test -5``, a misspelt backbone) used to surface minutes later as a
bare ``TypeError`` deep in a model, or not at all (a negative size silently meant "all but five"). Here every
parameter has one rule (type, range, registered names); a violation fails in seconds with one line that names the
parameter, the value and what is allowed (``ParameterError``). Chapters call ``validate_parameters(globals(),
...)`` right after their ``parameters`` cell; ``lgclip reproduce`` calls ``validate_run`` before any model loads.
A test checks that every parameter of every chapter has a rule here, so a new parameter cannot skip validation.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import zoo
from .errors import ParameterError, check_class_names

__all__ = ["Rule", "RULES", "validate_parameters", "validate_run", "check_value", "n_classes"]


@dataclass(frozen=True)
class Rule:
    """What one parameter may be. ``kind``: int | float | str | bool | dict | ints | floats | strs (lists)."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    none: bool = False  # None is allowed (meaning: "the default", explained in ``none_means``)
    choices: Callable[[], list[str]] | None = None
    none_means: str = ""
    extra: tuple[str, ...] = ()  # further allowed strings (e.g. "auto")

    def allowed(self, none_word: str = "None") -> str:
        kinds = {"int": "a whole number", "float": "a number", "str": "a string", "bool": "True or False",
                 "dict": "a dict", "ints": "a non-empty list of whole numbers", "floats": "a non-empty list of numbers",
                 "strs": "a non-empty list of strings"}
        text = kinds[self.kind]
        if self.lo is not None and self.hi is not None:
            text += f" in [{self.lo:g}, {self.hi:g}]"
        elif self.lo is not None:
            text += f" >= {self.lo:g}"
        if self.choices is not None:
            names = [*self.extra, *self.choices()]
            text = ("one of " if self.kind == "str" else "a list of ") + ", ".join(repr(n) for n in names)
        if self.none:
            text += f", or {none_word} ({self.none_means})" if self.none_means else f", or {none_word}"
        return text


def _names(role: str) -> Callable[[], list[str]]:
    return lambda: sorted(zoo.BACKENDS[role])


def _profiles() -> list[str]:
    return sorted(zoo.PROFILES)


def _clip_archs() -> list[str]:
    return [b.kwargs["arch"] for b in zoo.BACKENDS["image_encoder"].values() if b.source == "hub"]


def _scenarios() -> list[str]:
    return ["baseline", "image", "text", "image+text"]


def _int(lo: float | None = 1, none: bool = False, none_means: str = "", hi: float | None = None) -> Rule:
    return Rule("int", lo, hi, none, none_means=none_means)


SEED = _int(0)
GENERATOR_TEXT_TOKENS = 32  # generator.TEXT_MAX_LENGTH (a test keeps them equal; importing it would load torch)
PROFILE = Rule("str", choices=_profiles, extra=("auto",))

_PROFILE_SETTING = "the profile's setting (experiments.lgclip.PROFILE_SETTINGS)"
# None only where the LGCLIP run resolves it (chapters 03 and 05)
_PROFILE_NONE = ("N_MAX", "N_PER_CLASS", "N_SCALES", "GUIDANCE_SCALE", "UNLABELED_POOL")

# Every chapter parameter, by name (the same name means the same thing in every chapter).
RULES: dict[str, Rule] = {
    "PROFILE": PROFILE,
    "SEED": SEED, "DATA_SEED": SEED,
    "DATASET": Rule("str", none=True, choices=_names("dataset"), none_means="the profile's dataset"),
    "BACKBONE": Rule("str", none=True, choices=_names("image_encoder"), none_means="the profile's encoder"),
    "WRITER": Rule("str", none=True, choices=_names("prompt_writer"), none_means="the profile's prompt writer"),
    "CLASSES": Rule("strs"),
    "N_IMAGES": _int(), "N_PROMPTS": _int(), "N_DESCRIPTIONS": _int(), "N_SHOWN": _int(), "N_REAL": _int(),
    "N_MAX": _int(none=True, none_means=_PROFILE_SETTING), "N_PER_CLASS": _int(none=True, none_means=_PROFILE_SETTING),
    "N_SCALES": _int(none=True, none_means=_PROFILE_SETTING),
    "GUIDANCE_SCALE": Rule("float", 1.0, None, none=True, none_means=_PROFILE_SETTING),
    "SETTINGS": Rule("str", choices=lambda: ["profile", "paper"]),
    "UNLABELED_POOL": _int(0, none=True, none_means=_PROFILE_SETTING),
    "INPUT_SIZE": _int(16, none=True, none_means=_PROFILE_SETTING), "N_COST": _int(), "N_CLASS_MEANS": _int(),
    "IMAGE_INDEX": _int(0), "PER_CLASS": _int(), "LIT_PER_CLASS": _int(),
    "REAL_PER_CLASS": _int(10), "KSHOT_DRAWS": _int(), "ABLATION_SIZE_N_TEST": _int(),
    "N_TEST": _int(1, none=True, none_means="the whole test split"),
    "STEPS": _int(1, none=True, none_means="the pipeline's default"),
    "GUIDANCE": Rule("float", 0.0, None, none=True, none_means="the pipeline's default"),
    "GUIDANCE_SWEEP": Rule("floats", 0.0),
    "ABLATION_N": Rule("ints", 1), "ABLATION_SCALES": Rule("ints", 1), "ABLATION_SIZES": Rule("ints", 16),
    "HYBRID_WEIGHT": Rule("float", 0.0, 1.0),
    "RESULTS_JSON": Rule("str", none=True, none_means="run now"), "OUT_DIR": Rule("str"),
    "RESULTS_DIR": Rule("str"), "FRONTIER_RUNS": Rule("strs"), "CURVE_JSON": Rule("str"),
    "BATCH": _int(), "REPEATS": _int(), "TEXT_PROMPTS_PER_CLASS": _int(), "N_MULTISCALE_IMAGES": _int(),
    "SCALE_COUNTS": Rule("ints", 1), "GEN_BATCH_SIZES": Rule("ints", 1), "MAX_CLASSIFIED": _int(),
    "MEMORY_SCENARIOS": Rule("strs", choices=_scenarios), "PAPER_ARCHS": Rule("strs", choices=_clip_archs),
    "RUN_QUICK_IF_MISSING": Rule("bool"), "QUICK_CONFIG": Rule("dict"),
    "N_TEMPLATE": _int(), "N_LLM": _int(0), "EPOCHS": _int(), "SEEDS": _int(), "N_SHOW": _int(),
    "N_HEATMAP_SCENES": _int(0),
}
# Empty lists are allowed where "none of them" is meaningful.
_EMPTY_OK = {"MEMORY_SCENARIOS"}


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_value(name: str, value: Any, rule: Rule, empty_ok: bool = False, none_word: str = "None") -> Any:
    """``value`` if ``rule`` allows it, else a one-line ``ParameterError`` naming ``name``, the value and the rule
    (``none_word``: how the message says "not set", e.g. "leave it out" for a command-line option)."""
    if value is None:
        if rule.none:
            return value
        raise ParameterError(name, value, rule.allowed(none_word))
    if rule.kind == "str" and rule.none and value == "" and rule.choices is None:
        return value  # "" is this codebase's other spelling of "not set" for paths

    def scalar_ok(v: Any, kind: str) -> bool:
        if kind == "int" and not _is_int(v) or kind == "float" and not _is_num(v):
            return False
        if kind == "str" and not isinstance(v, str):
            return False
        if kind in ("int", "float") and (rule.lo is not None and v < rule.lo or rule.hi is not None and v > rule.hi):
            return False
        return not (kind == "str" and rule.choices is not None and v not in [*rule.extra, *rule.choices()])

    if rule.kind in ("int", "float", "str"):
        ok = scalar_ok(value, rule.kind)
    elif rule.kind == "bool":
        ok = isinstance(value, bool)
    elif rule.kind == "dict":
        ok = isinstance(value, Mapping)
    else:
        inner = {"ints": "int", "floats": "float", "strs": "str"}[rule.kind]
        ok = isinstance(value, (list, tuple)) and (len(value) > 0 or empty_ok) and all(
            scalar_ok(v, inner) for v in value)
    if not ok:
        raise ParameterError(name, value, rule.allowed(none_word))
    return value


# ------------------------------------------------------------------------------------------ class counts
def n_classes(dataset: str | None, profile: str) -> tuple[str, int]:
    """(dataset name, number of classes) of the dataset a run would use; loads its test split once per process
    (the run reuses it through ``zoo.load``)."""
    ds = zoo.load("dataset", dataset, profile, split="test")
    return ds.name, len(ds.classnames)


def _resolved_profile(profile: str) -> str:
    if profile != "auto":
        return profile
    import sys

    if "google.colab" in sys.modules:
        import torch

        return "paper" if torch.cuda.is_available() else "offline"
    return "offline"


def class_name_warnings(names: list[str], profile: str = "offline") -> list[str]:
    """Validate class names and warn (``TextLimitWarning``) where the profile's generator would not see a name as
    written: the offline generator keeps 32 MiniLM tokens of "A photo of a {name}." and MiniLM's vocabulary maps
    characters it lacks (emoji, many scripts) to [UNK]; CLIP's byte-level BPE (paper profile) keeps 77 tokens."""
    import warnings

    if _resolved_profile(profile) == "offline":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(zoo.asset_path("minilm-l6-v2"), local_files_only=True)
        model, limit = "MiniLM (the generator's text encoder)", GENERATOR_TEXT_TOKENS
    elif _resolved_profile(profile) == "paper":
        from .tokenizers import clip_tokenizer

        tok, model, limit = clip_tokenizer(), "CLIP's text encoder", 77
    else:
        return []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_class_names(names, tokenizer=tok, max_tokens=limit, model=model, template="A photo of a {}.")
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=3)
    return [str(w.message) for w in caught]


# -------------------------------------------------------------------------------------------- notebooks
def validate_parameters(namespace: Mapping[str, Any], experiment: str | None = None) -> dict[str, Any]:
    """Check every parameter in ``namespace`` (a chapter's ``globals()``) that has a rule; returns them.

    ``experiment="lgclip"`` adds the run's cross-checks (test images per class, N <= N_MAX, ablation values within
    their maxima); ``"t2ipal"`` the T2I-PAL ones. Names without a rule (``IN_COLAB``, ...) are not parameters.
    """
    params = {k: namespace[k] for k in RULES if k in namespace}
    for k, v in params.items():
        check_value(k, v, RULES[k], empty_ok=k in _EMPTY_OK)
    p = params.get
    if "CLASSES" in params:
        class_name_warnings(list(params["CLASSES"]), p("PROFILE", "offline"))
    if "QUICK_CONFIG" in params:
        from dataclasses import fields

        from .experiments.lgclip import LGCLIPConfig

        known = sorted(f.name for f in fields(LGCLIPConfig))
        for key in params["QUICK_CONFIG"]:
            if key not in known:
                raise ParameterError("QUICK_CONFIG", params["QUICK_CONFIG"],
                                     f"keys among the LGCLIPConfig fields: {', '.join(known)} ({key!r} is not one)")
    for name in _PROFILE_NONE:
        if experiment != "lgclip" and name in params and p(name) is None:
            raise ParameterError(name, None, "a number here (None, the profile's setting, is for the chapters of "
                                             "the LGCLIP run)")
    if p("N_PER_CLASS") is not None and p("N_MAX") is not None and p("N_PER_CLASS") > p("N_MAX"):
        raise ParameterError("N_PER_CLASS", p("N_PER_CLASS"), f"at most N_MAX = {p('N_MAX')} (images generated "
                                                              "per class)")
    if "N_SHOWN" in params and p("N_MAX") is not None and p("N_SHOWN") > p("N_MAX"):
        raise ParameterError("N_SHOWN", p("N_SHOWN"), f"at most N_MAX = {p('N_MAX')} (images generated per class)")
    if "ABLATION_N" in params and p("N_MAX") is not None and max(p("ABLATION_N")) > p("N_MAX"):
        raise ParameterError("ABLATION_N", p("ABLATION_N"), f"values <= N_MAX = {p('N_MAX')}")
    for name in ("ABLATION_SCALES", "SCALE_COUNTS"):
        if name in params and p("N_SCALES") is not None and max(p(name)) > p("N_SCALES"):
            raise ParameterError(name, p(name), f"values <= N_SCALES = {p('N_SCALES')}")
    if experiment == "lgclip":
        profile = _resolved_profile(p("PROFILE", "offline"))
        for name in ("N_TEST", "ABLATION_SIZE_N_TEST"):
            if p(name) is not None and name in params:
                _check_per_class(name, p(name), p("DATASET"), profile)
    return params


def _check_per_class(name: str, value: int, dataset: str | None, profile: str) -> None:
    ds_name, k = n_classes(dataset, profile)
    if k < 2:
        raise ParameterError("dataset", ds_name, f"a dataset with at least 2 classes (it has {k}); a classifier "
                             "needs two")
    if value < k:
        raise ParameterError(name, value, f"a whole number >= {k} ({ds_name} has {k} classes: at least one test "
                                          "image per class), or None for the whole test split")


# -------------------------------------------------------------------------------------------------- CLI
def validate_run(experiment: str, **options: Any) -> None:
    """Check ``lgclip reproduce lgclip|t2ipal`` options (named as on the command line, e.g. ``n_test``) before any
    model loads; the class-count check loads only the dataset."""
    profile = options.get("profile", "offline")
    flag = {k: "--" + k.replace("_", "-") for k in options}
    check_value(flag.get("profile", "--profile"), profile, Rule("str", choices=_profiles))
    rules: dict[str, Rule] = {"seed": SEED, "n_per_class": RULES["N_PER_CLASS"], "seeds": _int(),
                              "epochs": _int(1, none=True), "backbone": RULES["BACKBONE"],
                              "n_scales": RULES["N_SCALES"], "input_size": RULES["INPUT_SIZE"],
                              "guidance_scale": RULES["GUIDANCE_SCALE"]}
    if experiment == "lgclip":
        rules["dataset"] = RULES["DATASET"]
        rules["n_test"] = _int(1, none=True, none_means="the whole test split")
    else:
        rules["n_test"] = _int(0, none=True, none_means="the settings' size; 0: the whole test split")
    for k, v in options.items():
        if k in rules:
            check_value(flag[k], v, rules[k], none_word="leave it out")
    if experiment == "lgclip":
        ds_name, k = n_classes(options.get("dataset"), profile)
        if k < 2:
            raise ParameterError("--dataset", ds_name, f"a dataset with at least 2 classes (it has {k})")
        # the names the prompt writer and the generator get: one warning per name they would not see as written
        class_name_warnings(list(zoo.load("dataset", options.get("dataset"), profile, split="test").prompt_names),
                            profile)
        n_test = options.get("n_test")
        if n_test is not None and n_test < k:
            raise ParameterError("--n-test", n_test, f"a whole number >= {k} ({ds_name} has {k} classes: at least "
                                                     "one test image per class), or leave it out for the whole split")
