"""Prompt writers: templates, the LLM recipe (tiny model for mechanics, SmolLM2 once for real), caching."""

from __future__ import annotations

import re

import pytest
import torch

from lgclip_core import zoo
from lgclip_core.cache import ArtifactCache, sha256_file
from lgclip_core.decoding import StopRule
from lgclip_core.errors import BadInputError
from lgclip_core.prompts import (
    ASPECTS,
    LLMWriter,
    TemplateWriter,
    clean_description,
    diversity,
    write_prompts,
)

FMNIST = ["t-shirt", "sneaker", "bag"]


# ---------------------------------------------------------------------------------------------- templates
def test_plain_template_is_the_papers() -> None:
    w = zoo.load("prompt_writer", "template")
    assert w.write(["cat", "ankle boot"], n=3) == {"cat": ["A photo of a cat."] * 3,
                                                    "ankle boot": ["A photo of a ankle boot."] * 3}
    assert w.config()["template"] == "A photo of a {}."


def test_openai_imagenet_templates_cycle() -> None:
    w = zoo.load("prompt_writer", "clip-imagenet-templates")
    out = w.write(["cat"], n=85)["cat"]
    assert len(set(out[:80])) == 80 and out[80:] == out[:5]
    assert out[0] == "a bad photo of a cat." and all("cat" in p for p in out)


def test_template_writer_ignores_seed() -> None:
    w = TemplateWriter("t", "a {} photo")
    assert w.write(["x"], n=2, seed=1) == w.write(["x"], n=2, seed=2)


# ------------------------------------------------------------------------------------ post-filter, diversity
@pytest.mark.parametrize(("continuation", "expected"), [
    (" a red body. It is nice.", "bag, which has a red body."),
    (" a red body\nand more", "bag, which has a red body."),
    (" a long strap, a zip and", "bag, which has a long strap, a zip and."),
    ("   two   handles!  Yes", "bag, which has two handles!"),
    (", like most bags, a strap.", "bag, which has, like most bags, a strap."),
    ("", None),
    (" .", None),
    ("\nsomething on the next line", None),
    (" a", None),
])
def test_clean_description(continuation: str, expected: str | None) -> None:
    assert clean_description("bag", continuation) == expected


def test_clean_description_keeps_dots_in_class_name() -> None:
    assert clean_description("St. Bernard", " a white coat. Big.") == "St. Bernard, which has a white coat."


def test_diversity() -> None:
    assert diversity(["a red bag.", "A red bag"]) == 0.0
    assert diversity(["red bag", "blue shoe"]) == 1.0
    assert diversity(["red bag", "red shoe"]) == pytest.approx(1 - 1 / 3)
    assert diversity(["red bag", "red shoe", "red bag"]) == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    assert diversity(["only one"]) == 0.0
    plain = zoo.load("prompt_writer", "template").write(["cat"], n=5)["cat"]
    varied = zoo.load("prompt_writer", "clip-imagenet-templates").write(["cat"], n=5)["cat"]
    assert diversity(plain) == 0.0 < diversity(varied)


# ---------------------------------------------------------------------------------------------- caching
class _Counting:
    """Wraps a writer, counts per-class calls, can fail on one class (an interrupted run)."""

    def __init__(self, inner, fail_on: str | None = None):
        self.inner, self.fail_on, self.calls = inner, fail_on, []
        self.name, self.uses_seed = inner.name, inner.uses_seed

    def config(self):
        return self.inner.config()

    def write_class(self, classname, index, n, seed):
        if classname == self.fail_on:
            raise KeyboardInterrupt
        self.calls.append(classname)
        return self.inner.write_class(classname, index, n, seed)


def test_write_prompts_caches_and_resumes(tmp_cache: ArtifactCache) -> None:
    w = _Counting(TemplateWriter("t", "a photo of a {}."), fail_on="sneaker")
    with pytest.raises(KeyboardInterrupt):
        write_prompts(w, FMNIST, n=2, cache=tmp_cache)
    assert w.calls == ["t-shirt"]
    w.fail_on = None
    out = write_prompts(w, FMNIST, n=2, cache=tmp_cache)
    assert w.calls == ["t-shirt", "sneaker", "bag"]  # t-shirt came from the cache
    assert out == {c: [f"a photo of a {c}."] * 2 for c in FMNIST}
    write_prompts(w, FMNIST, n=2, cache=tmp_cache)
    assert len(w.calls) == 3
    write_prompts(w, FMNIST, n=3, cache=tmp_cache)  # n is part of the key
    assert len(w.calls) == 6


def test_write_prompts_default_cache_is_session_cache() -> None:
    import os

    from lgclip_core.cache import default_cache

    write_prompts(TemplateWriter("t", "{}!"), ["x"], n=1)
    assert str(default_cache().root) == os.environ["LGCLIP_CACHE"]
    assert default_cache().has("prompts", {"writer": TemplateWriter("t", "{}!").config(), "class": "x", "n": 1},
                               ext="data.json")


# ------------------------------------------------------------------------------------------ LLM (tiny)
@pytest.fixture(scope="module")
def tiny_writer() -> LLMWriter:
    base = zoo.load("prompt_writer", "tiny-llm")  # random weights never stop early: keep the samples short
    return LLMWriter(base.name, base.model, base.tokenizer, base.source, max_new_tokens=16)


@pytest.mark.slow  # first use on a machine converts SmolLM2's GGUF for the tokenizer (~1 min), then < 1 s
def test_tiny_llm_format_and_determinism(tiny_writer: LLMWriter) -> None:
    state = torch.random.get_rng_state()
    a = tiny_writer.write(["sneaker", "bag"], n=3, seed=7)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's RNG is left alone
    assert a == tiny_writer.write(["sneaker", "bag"], n=3, seed=7)
    assert a != tiny_writer.write(["sneaker", "bag"], n=3, seed=8)
    for c, prompts in a.items():
        assert len(prompts) == 3
        for p in prompts:
            assert p.startswith(f"{c}, which has ") and "\n" not in p and p[-1] in ".!?"
    assert tiny_writer.config()["model"].startswith("tiny-llama")


@pytest.mark.slow
def test_tiny_llm_seed_is_per_class_index(tiny_writer: LLMWriter) -> None:
    pair = tiny_writer.write(["sneaker", "bag"], n=2, seed=7)
    assert tiny_writer.write(["bag"], n=2, seed=8)["bag"] == pair["bag"]  # class 1 at seed 7 == class 0 at seed 8


@pytest.mark.slow
def test_batched_sampling_draws_what_transformers_sampling_draws(tiny_writer: LLMWriter) -> None:
    """Each group of a batch (its own prompt length, k and seed) samples exactly what transformers' own
    temperature/top-p sampling draws for that group alone after ``torch.manual_seed(seed)``."""
    w, tok = tiny_writer, tiny_writer.tokenizer
    groups = [(w.chat_text("bag"), 3, 11), (w.chat_text("ankle boot"), 2, 5)]
    ours = w.decode(groups, 8, StopRule()).texts
    eos = sorted({tok.eos_token_id, w.model.generation_config.eos_token_id} - {None})
    for (text, k, seed), got in zip(groups, ours, strict=True):
        enc = tok([text] * k, return_tensors="pt", add_special_tokens=False)
        torch.manual_seed(seed)
        ref = w.model.generate(**enc, do_sample=True, temperature=w.temperature, top_p=w.top_p, top_k=0,
                               max_new_tokens=8, pad_token_id=tok.pad_token_id, eos_token_id=eos)
        assert got == tok.batch_decode(ref[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.slow
def test_a_group_that_joins_a_running_batch_draws_what_it_draws_alone(tiny_writer: LLMWriter) -> None:
    """``follow``: a re-drawn request joins the batch while other rows still decode (its prompt's keys reused, or
    encoded and padded: here one longer than the batch, so the batch is padded instead); each follower samples
    exactly what it samples decoded alone, and the rows that stayed are unchanged."""
    w = tiny_writer
    short, long_text = w.chat_text("bag"), w.chat_text("ankle boot with a very long and winding name " * 4)
    groups = [(short, 1, 11), (w.chat_text("sneaker"), 2, 5)]
    steps: dict[int, int] = {}

    def enough(row: int, text: str) -> bool:  # group 0 (row 0) ends after 3 tokens, the others run on
        steps[row] = steps.get(row, 0) + 1
        return row == 0 and steps[row] >= 3

    followers = iter([(short, 1, 99), (long_text, 1, 7)])
    joined = w.decode(groups, 8, StopRule(), enough=enough, follow=lambda g, texts: next(followers, None))
    assert len(joined.texts) == 4
    assert joined.texts[1] == w.decode(groups[1:], 8, StopRule()).texts[0]
    assert joined.texts[2] == w.decode([(short, 1, 99)], 8, StopRule()).texts[0]
    assert joined.texts[3] == w.decode([(long_text, 1, 7)], 8, StopRule()).texts[0]
    assert joined.row_steps < 8 * 5  # group 0 left after 3 steps


@pytest.mark.slow
def test_list_attempts_in_flight_change_the_schedule_not_the_descriptions(tiny_writer: LLMWriter,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """one_request decodes several attempts per class at once and applies them in attempt order: the
    descriptions are those of one attempt at a time."""
    from lgclip_core import prompts

    w = tiny_writer.with_prompting("one_request")
    got = {}
    for k in (1, 2, 4):
        monkeypatch.setattr(prompts, "LIST_IN_FLIGHT", k)
        got[k] = w.write_classes(["bag", "ankle boot", "coat"], [0, 1, 2], 3, 7)
    assert got[1] == got[2] == got[4]


@pytest.mark.slow
def test_sample_chats_draws_each_text_from_its_own_seed(tiny_writer: LLMWriter) -> None:
    """A text's sample depends on its seed, not on the texts that share its batch (nor on the batch size)."""
    w = tiny_writer
    chats = [w.chat_text(c) for c in ("bag", "ankle boot", "t-shirt", "sandal")]  # prompts of different lengths
    seeds = [3, 4, 5, 6]
    together = w.sample_chats(chats, seeds, max_new_tokens=8)
    assert len(together) == 4
    assert [w.sample_chats([c], [s], max_new_tokens=8)[0] for c, s in zip(chats, seeds, strict=True)] == together
    small = LLMWriter(w.name, w.model, w.tokenizer, w.source, max_new_tokens=16, batch_rows=3)
    assert small.sample_chats(chats, seeds, max_new_tokens=8) == together  # 3 + 1 rows: the same draws
    assert w.sample_chats(chats[:1], [99], max_new_tokens=8) != together[:1]
    with pytest.raises(BadInputError, match="one seed per text"):
        w.sample_chats(chats, seeds[:2])


def test_nucleus_is_transformers_top_p() -> None:
    """The top-k shortcut keeps exactly the tokens transformers' TopPLogitsWarper keeps, also for a row whose
    nucleus is wider than the candidates (a flat distribution: the full sort)."""
    from transformers import TopPLogitsWarper

    from lgclip_core.decoding import nucleus

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5000, generator=gen) * torch.tensor([[8.0], [4.0], [2.0], [1.0], [0.1], [0.01]])
    for top_p in (0.5, 0.95):
        ref = torch.isfinite(TopPLogitsWarper(top_p=top_p)(None, logits.clone()))
        ours = nucleus(logits, top_p, candidates=256)
        assert torch.equal(ours, ref)
        assert int(ours[-1].sum()) > 256  # the flat row took the full-sort path


@pytest.mark.slow
def test_every_request_asks_for_all_four_aspects(tiny_writer: LLMWriter) -> None:
    text = tiny_writer.chat_text("bag")
    assert text.endswith("bag, which has") and "<|im_start|>assistant" in text
    assert all(a in text.split("<|im_start|>user")[-1] for a in ASPECTS)  # the request itself names all four
    listed = tiny_writer.with_prompting("one_request").list_chat_text("bag", 10)
    assert "10 detailed visual descriptions of bag" in listed and listed.endswith("1. bag, which has")
    assert all(a in listed for a in ("colour", "shape", "texture", "viewpoints"))


@pytest.mark.slow
def test_llm_config_changes_with_decoding(tiny_writer: LLMWriter) -> None:
    hot = LLMWriter("tiny-llm", tiny_writer.model, tiny_writer.tokenizer, tiny_writer.source, temperature=1.0)
    assert hot.config() != tiny_writer.config() and hot.config()["temperature"] == 1.0


# ---------------------------------------------------------------------------------------- LLM (SmolLM2)
@pytest.mark.slow
def test_smollm2_writes_the_papers_format(tmp_cache: ArtifactCache) -> None:
    w = zoo.load("prompt_writer", "smollm2-135m-instruct")
    cfg = w.config()
    assert cfg["gguf_sha256"] == sha256_file(zoo.asset_path("smollm2-135m-instruct"))
    assert cfg["temperature"] == 0.7 and cfg["model"].endswith(".gguf")
    out = write_prompts(w, ["bag"], n=2, seed=2024, cache=tmp_cache)  # ~3 s per sample on one free core
    for c, prompts in out.items():
        assert len(prompts) == 2
        for p in prompts:
            assert p.startswith(f"{c}, which has ") and "\n" not in p
            assert len(re.findall(r"[.!?](?:\s|$)", p)) == 1 and p[-1] in ".!?"  # exactly one sentence
            assert len(p.split()) >= 5
    assert tmp_cache.misses == 1
    assert write_prompts(w, ["bag"], n=2, seed=2024, cache=tmp_cache) == out
    assert tmp_cache.hits == 1 and tmp_cache.misses == 1


def test_format_statistics_counts_the_format() -> None:
    from lgclip_core.errors import BadInputError
    from lgclip_core.prompts import format_statistics

    stats = format_statistics({"cat": ["cat, which has black fur.", "a cat."], "dog": ["dog, which has a tail."]})
    assert stats["descriptions"] == "3" and stats["start with '{class}, which has'"] == "66.7%"
    assert stats["words (min–max)"] == "2–5" and stats["distinct descriptions"] == "3"
    assert stats["mention a colour word"] == "33.3%"
    with pytest.raises(BadInputError, match="no descriptions"):
        format_statistics({})


def test_gguf_conversion_parses_the_file_once_and_restores_gguf() -> None:
    import gguf

    from lgclip_core.prompts import _gguf_parsed_once

    path = zoo.asset_path("smollm2-135m-instruct")
    before = gguf.GGUFReader, gguf.get_tensor_name_map
    with _gguf_parsed_once():
        assert gguf.GGUFReader(path) is gguf.GGUFReader(str(path))  # the 49k-entry vocabulary is parsed once
        arch = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == "llama")
        assert gguf.get_tensor_name_map(arch, 30) is gguf.get_tensor_name_map(arch, 30)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == before


KILL_AFTER_FIRST_CLASS = """
import os, signal, sys
from lgclip_core import zoo
from lgclip_core.cache import ArtifactCache
from lgclip_core.prompts import LLMWriter, write_prompts

base = zoo.load("prompt_writer", "tiny-llm")
writer = LLMWriter(base.name, base.model, base.tokenizer, base.source, max_new_tokens=8).with_prompting("one_request")
original = ArtifactCache.json
def json_then_die(self, kind, parts, build, *a, **k):
    value = original(self, kind, parts, build, *a, **k)
    if kind == "prompts":
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 right after the first class is stored
    return value
ArtifactCache.json = json_then_die
write_prompts(writer, sys.argv[2].split(","), n=3, seed=7, cache=ArtifactCache(sys.argv[1]))
"""


@pytest.mark.slow  # the tiny LLM's tokenizer comes from SmolLM2's GGUF (converted once per machine)
def test_authors_prompt_writing_resumes_per_class_after_kill_9(tmp_path) -> None:
    """one_request decodes every class's list in one batch and stores each class as soon as it is complete: a
    kill -9 loses only the classes not yet stored, and the resume writes only those (counted by cache hits)."""
    import subprocess
    import sys

    from lgclip_core.cache import ArtifactCache

    names = ["sneaker", "bag", "coat", "sandal"]
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_CLASS, str(tmp_path / "c"), ",".join(names)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    base = zoo.load("prompt_writer", "tiny-llm")
    writer = LLMWriter(base.name, base.model, base.tokenizer, base.source, max_new_tokens=8).with_prompting(
        "one_request")
    asked: list[str] = []
    original = writer.write_classes
    writer.write_classes = lambda cs, idx, n, seed, done=None: asked.extend(cs) or original(cs, idx, n, seed, done)
    cache = ArtifactCache(tmp_path / "c")
    resumed = write_prompts(writer, names, n=3, seed=7, cache=cache)
    assert len(asked) == len(names) - 1 and len(set(names) - set(asked)) == 1  # the stored class was kept
    fresh = write_prompts(writer, names, n=3, seed=7, cache=ArtifactCache(tmp_path / "d"))
    assert resumed == fresh  # resuming gives what an uninterrupted run writes
    assert fresh["bag"] == writer.write_class("bag", 1, 3, 7)  # a class alone = the class in the batch
