"""Batched sampling from a causal LM on a CPU: shared prompt prefix encoded once, one seeded generator per
group of rows, rows that are done leave the batch.

Why not ``model.generate``: it computes every row until the longest row ends. On a CPU a decoding step costs
about 46 ms plus 13 ms per row (SmolLM2-135M, 2 cores), and a list answer of a small model ends after 60 or
after 600 tokens: with ``generate``, ten classes' lists cost 600 steps of ten rows. Here a group whose rows are
all done leaves the batch, so the batch costs the tokens actually written. Every group draws exactly what
transformers' own sampling draws for that group alone after ``torch.manual_seed(seed)`` (tested), because a
group's rows stay in the batch (and keep drawing, as in ``generate``) until all of them are done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import BadInputError

__all__ = ["StopRule", "SENTENCE", "Decoded", "sample", "prefill", "nucleus"]


@dataclass(frozen=True)
class StopRule:
    """When a row stops, besides its end-of-text token and the token budget.

    ``strings``: at the first of these in the continuation (e.g. one sentence: newline or ". ");
    ``lines``: once the continuation holds this many complete lines (a list answer of n items);
    ``line_words``: a line longer than this many words is ended with a forced newline (what a parser cuts
    anyway: a small model's run-on line then does not eat the whole budget).
    """

    strings: tuple[str, ...] = ()
    lines: int | None = None
    line_words: int | None = None

    def finished(self, text: str) -> bool:
        return any(s in text for s in self.strings) or (self.lines is not None and text.count("\n") >= self.lines)

    def force_newline(self, text: str) -> bool:
        return self.line_words is not None and len(text.rsplit("\n", 1)[-1].split()) > self.line_words

    @property
    def reads_text(self) -> bool:
        return bool(self.strings) or self.lines is not None or self.line_words is not None


SENTENCE = StopRule(strings=("\n", ". "))


@dataclass
class Decoded:
    """The continuations of a batch, grouped as requested, and the row-steps computed (the cost)."""

    texts: list[list[str]]
    row_steps: int


def prefill(model: Any, tokenizer: Any, groups: Sequence[tuple[str, int, int]]) -> tuple[Any, Any, Any]:
    """Input ids, attention mask and key/value cache of the batch: k rows per group ``(text, k, seed)``, the
    cache holding every prompt token but the last (decoding starts from that one).

    The prompts' common token prefix (system prompt, worked example: most of a request) is encoded once, and
    each group's own tokens once for its k samples. A row is the prefix, padding, then the group's own tokens
    (the mask hides the padding; positions follow the mask), so every row ends where generation starts. On a
    CPU the prompt pass is bound by compute per token: for 200 T2I-PAL captions it went from ~22 s to ~4 s.
    """
    import torch
    from transformers import DynamicCache

    device = next(model.parameters()).device
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text, _, _ in groups]
    shared = 0
    while shared < min(map(len, ids)) - 1 and all(x[shared] == ids[0][shared] for x in ids):
        shared += 1
    own = [x[shared:] for x in ids]  # >= 1 token each
    width = max(map(len, own))
    pad = tokenizer.pad_token_id
    rows = torch.tensor([ids[0][:shared] + [pad] * (width - len(x)) + x for x in own], device=device)
    mask = torch.tensor([[1] * shared + [0] * (width - len(x)) + [1] * len(x) for x in own], device=device)
    body = model.base_model  # hidden states only: the logits of prompt tokens are never used
    cache = DynamicCache(config=model.config)
    if shared:
        body(input_ids=rows[:1, :shared], cache=cache, use_cache=True)
        cache = DynamicCache([(layer.keys.expand(len(groups), -1, -1, -1),
                               layer.values.expand(len(groups), -1, -1, -1)) for layer in cache.layers],
                             config=model.config)
    if width > 1:
        tail = mask[:, :-1]
        positions = (tail.cumsum(-1) - 1).clamp_min(0)[:, shared:]
        body(input_ids=rows[:, shared:-1], attention_mask=tail, position_ids=positions, cache=cache, use_cache=True)
    k = torch.tensor([k for _, k, _ in groups], device=device)
    if bool((k != 1).any()):
        cache = DynamicCache([(layer.keys.repeat_interleave(k, 0), layer.values.repeat_interleave(k, 0))
                              for layer in cache.layers], config=model.config)
    return rows.repeat_interleave(k, 0), mask.repeat_interleave(k, 0), cache


Group = tuple[str, int, int]  # (text, k samples, seed)


def sample(model: Any, tokenizer: Any, groups: Sequence[Group], max_new_tokens: int, temperature: float,
           top_p: float, stop: StopRule = StopRule(), no_repeat_ngram_size: int = 0,
           enough: Callable[[int, str], bool] | None = None,
           follow: Callable[[int, list[str]], Group | None] | None = None) -> Decoded:
    """k sampled continuations of each group ``(text, k, seed)``: temperature + top-p sampling, each group from
    its own generator seeded with its seed, the no-repeat-n-gram rule on the continuation if asked; at most
    ``max_new_tokens`` per row.

    ``enough(row, text)``: called with a row's text so far after each step; True ends the row (what it would
    write next is not needed, e.g. a list that already holds every description its class lacks).
    ``follow(group, texts)``: called when a group is done, with its rows' texts; a group it returns joins the
    running batch as group ``len(groups so far)`` (a re-drawn request starts while the others still decode,
    instead of after the longest of them). ``Decoded.texts`` lists every group, followers included."""
    import torch

    if follow is not None and no_repeat_ngram_size > 0:
        raise BadInputError("no_repeat_ngram_size needs rows that start together: pass follow=None")
    with torch.inference_mode():
        batch = _Batch(model, tokenizer, list(groups), keep_prompts=follow is not None)
        while batch.alive:
            batch.step(max_new_tokens, temperature, top_p, stop, no_repeat_ngram_size, enough)
            for g in batch.finished():
                nxt = follow(g, [batch.texts[r] for r in batch.rows_of[g]]) if follow is not None else None
                if nxt is not None:
                    batch.join(nxt)
            batch.drop_done()
    decoded = iter(tokenizer.batch_decode(batch.out, skip_special_tokens=True))
    return Decoded([[next(decoded) for _ in range(k)] for _, k, _ in batch.groups], batch.row_steps)


class _Batch:
    """The rows being decoded: their ids, mask and key/value cache (batch order = ``rows``), the generated ids and
    text of every row ever in the batch, and one generator per group."""

    def __init__(self, model: Any, tokenizer: Any, groups: list[Group], keep_prompts: bool):
        import torch

        self.model, self.tokenizer, self.groups = model, tokenizer, groups
        self.device = next(model.parameters()).device
        self.ids, self.mask, cache = prefill(model, tokenizer, groups)
        self.cache = _growing(cache)
        self.start = self.ids.shape[1]  # where the continuations begin (the no-repeat rule reads from here)
        self.rows_of: list[list[int]] = []
        self.group_of: list[int] = []  # row -> its group
        for g, (_, k, _) in enumerate(groups):
            self.rows_of.append(list(range(len(self.group_of), len(self.group_of) + k)))
            self.group_of.extend([g] * k)
        self.generators = [torch.Generator(device=self.device).manual_seed(int(seed)) for _, _, seed in groups]
        self.out: list[list[int]] = [[] for _ in range(sum(k for _, k, _ in groups))]  # pads excluded
        self.texts = [""] * len(self.out)
        self.alive = list(range(len(groups)))
        self.rows = [r for g in self.alive for r in self.rows_of[g]]  # batch position -> row
        self.done = torch.zeros(len(self.rows), dtype=torch.bool, device=self.device)
        self.row_steps = 0
        self.eos = torch.tensor(sorted(_eos_ids(model, tokenizer)), device=self.device)
        self.pad = tokenizer.pad_token_id
        self.decodable = len(tokenizer)  # a padded embedding (Qwen2.5: 151,936 rows, 151,665 tokens) is never drawn
        newline = tokenizer.encode("\n", add_special_tokens=False)
        self.newline = newline[0] if len(newline) == 1 else None
        self.prompts: dict[str, tuple[Any, Any, list[tuple[Any, Any]]]] = {}
        if keep_prompts:  # a follower with the same text reuses its prompt's keys and values
            for g, (text, _, _) in enumerate(groups):
                r = self.rows_of[g][0]
                self.prompts.setdefault(text, (self.ids[r:r + 1], self.mask[r:r + 1],
                                               [(lay.keys[r:r + 1].clone(), lay.values[r:r + 1].clone())
                                                for lay in self.cache.layers]))

    def step(self, budget: int, temperature: float, top_p: float, stop: StopRule, no_repeat_ngram_size: int,
             enough: Callable[[int, str], bool] | None) -> None:
        """One token for every row in the batch (a done row gets padding, as in ``generate``)."""
        import torch
        from transformers import NoRepeatNGramLogitsProcessor

        positions = self.mask.sum(-1, keepdim=True) - 1
        logits = self.model(input_ids=self.ids[:, -1:], attention_mask=self.mask, position_ids=positions,
                            cache=self.cache, use_cache=True).logits[:, -1, :].to(dtype=torch.float32)
        self.row_steps += len(self.rows)
        if no_repeat_ngram_size > 0:
            logits = NoRepeatNGramLogitsProcessor(no_repeat_ngram_size)(self.ids[:, self.start:], logits)
        logits = logits / temperature
        if logits.shape[-1] > self.decodable:
            logits[:, self.decodable:] = float("-inf")
        if stop.line_words is not None and self.newline is not None:
            for i, r in enumerate(self.rows):
                if not self.done[i] and stop.force_newline(self.texts[r]):
                    logits[i] = float("-inf")
                    logits[i, self.newline] = 0.0
        probs = torch.softmax(logits.masked_fill(~nucleus(logits, top_p), float("-inf")), dim=-1)
        picked, i = [], 0
        for g in self.alive:
            k = len(self.rows_of[g])
            picked.append(torch.multinomial(probs[i:i + k], 1, generator=self.generators[g]))
            i += k
        nxt = torch.cat(picked).squeeze(1)
        nxt = torch.where(self.done, torch.full_like(nxt, self.pad), nxt)
        for i, r in enumerate(self.rows):
            if not self.done[i]:
                self.out[r].append(int(nxt[i]))
        self.done |= torch.isin(nxt, self.eos)
        reads = stop.reads_text or enough is not None or stop.line_words is not None
        for i, r in enumerate(self.rows):
            if self.done[i]:
                continue
            if reads:
                self.texts[r] = self.tokenizer.decode(self.out[r], skip_special_tokens=True)
            if (len(self.out[r]) >= budget or stop.finished(self.texts[r])
                    or (enough is not None and enough(r, self.texts[r]))):
                self.done[i] = True
        self.ids = torch.cat([self.ids, nxt[:, None]], dim=1)
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)

    def finished(self) -> list[int]:
        """Groups in the batch whose rows are all done."""
        pos = {r: i for i, r in enumerate(self.rows)}
        return [g for g in self.alive if all(bool(self.done[pos[r]]) for r in self.rows_of[g])]

    def drop_done(self) -> None:
        """Finished groups leave the batch (their rows' keys and values with them)."""
        import torch

        gone = set(self.finished())
        if not gone:
            return
        keep = [i for i, r in enumerate(self.rows) if self.group_of[r] not in gone]
        self.alive = [g for g in self.alive if g not in gone]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            return
        idx = torch.tensor(keep, device=self.device)
        self.ids, self.mask, self.done = self.ids[idx], self.mask[idx], self.done[idx]
        self.cache.batch_select_indices(idx)

    def join(self, group: Group) -> None:
        """A new group joins: its prompt (reused when its text was seen, else encoded now) left-padded to the
        batch's width, or the batch left-padded to the prompt's (the mask hides padding, positions follow it)."""
        import torch

        text, k, seed = group
        if text not in self.prompts:
            ids, mask, cache = prefill(self.model, self.tokenizer, [(text, 1, seed)])
            self.prompts[text] = (ids, mask, [(lay.keys, lay.values) for lay in cache.layers])
        ids, mask, kv = self.prompts[text]
        width, extra = self.ids.shape[1], ids.shape[1] - self.ids.shape[1]
        if extra > 0:  # the prompt is wider than the batch: the batch is padded on the left
            self.ids = torch.cat([self.ids.new_full((len(self.ids), extra), self.pad), self.ids], dim=1)
            self.mask = torch.cat([self.mask.new_zeros((len(self.mask), extra)), self.mask], dim=1)
            for lay in self.cache.layers:
                lay.keys, lay.values = (_left_pad(lay.keys, extra), _left_pad(lay.values, extra))
            self.start += extra
            width = self.ids.shape[1]
        fill = width - ids.shape[1]
        self.ids = torch.cat([self.ids, torch.cat([ids.new_full((1, fill), self.pad), ids], 1).repeat(k, 1)])
        self.mask = torch.cat([self.mask, torch.cat([mask.new_zeros((1, fill)), mask], 1).repeat(k, 1)])
        for lay, (keys, values) in zip(self.cache.layers, kv, strict=True):
            lay.keys = torch.cat([lay.keys, _left_pad(keys, fill).repeat(k, 1, 1, 1)])
            lay.values = torch.cat([lay.values, _left_pad(values, fill).repeat(k, 1, 1, 1)])
        g = len(self.groups)
        self.groups.append(group)
        self.rows_of.append(list(range(len(self.out), len(self.out) + k)))
        self.group_of.extend([g] * k)
        self.generators.append(torch.Generator(device=self.device).manual_seed(int(seed)))
        self.out.extend([] for _ in range(k))
        self.texts.extend("" for _ in range(k))
        self.alive.append(g)
        self.rows.extend(self.rows_of[g])
        self.done = torch.cat([self.done, torch.zeros(k, dtype=torch.bool, device=self.device)])


def _growing(cache: Any) -> Any:
    """The cache's layers write new positions into spare capacity instead of concatenating: ``DynamicLayer``
    copies the whole cache at every step (a sixth of a step's time at 1,000 positions on a CPU)."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized or self.keys.numel() == 0:
                return super().update(key_states, value_states, *args, **kwargs)
            length, new = self.keys.shape[-2], key_states.shape[-2]
            own = getattr(self, "_view", None)
            if own is None or own[0] is not self.keys or own[2].shape[-2] < length + new:  # replaced, or full
                room = length + new + 256
                bufs = [x.new_empty(*x.shape[:2], room, x.shape[3]) for x in (self.keys, self.values)]
                bufs[0][..., :length, :], bufs[1][..., :length, :] = self.keys, self.values
            else:
                bufs = [own[2], own[3]]
            bufs[0][..., length:length + new, :] = key_states
            bufs[1][..., length:length + new, :] = value_states
            self.keys, self.values = (b[..., :length + new, :] for b in bufs)
            self._view = (self.keys, self.values, bufs[0], bufs[1])
            return self.keys, self.values

    for layer in cache.layers:
        if type(layer) is DynamicLayer:
            layer.__class__ = GrowingLayer
    return cache


def _left_pad(x: Any, n: int) -> Any:
    """Keys or values (rows, heads, positions, dim) with n zero positions in front (masked out)."""
    import torch

    return x if n <= 0 else torch.cat([x.new_zeros(*x.shape[:2], n, x.shape[3]), x], dim=2)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    eos: set[int] = set()
    for ids in (tokenizer.eos_token_id, model.generation_config.eos_token_id):
        eos.update(ids if isinstance(ids, list) else [] if ids is None else [ids])
    return eos


def nucleus(logits: Any, top_p: float, candidates: int = 512) -> Any:
    """Bool mask (rows, vocab) of the top-p nucleus: the most probable tokens until their probability reaches
    ``top_p`` (at least one), transformers' ``TopPLogitsWarper`` rule.

    Why not the warper itself: it sorts the whole vocabulary of every row at every step (49k tokens: 3 ms a row,
    most of a 100-row decoding step on a CPU). The nucleus of a trained model rarely holds more than a few hundred
    tokens, so the ``candidates`` largest (``topk``) decide it; a row whose nucleus is larger is sorted whole."""
    import torch

    def kept(p: Any, order: Any) -> Any:  # p: probabilities in decreasing order, order: their token ids
        keep = (p.cumsum(-1) - p) < top_p  # the more probable tokens' total is still short of top_p
        keep[:, 0] = True
        return torch.zeros(p.shape[0], probs.shape[-1], dtype=torch.bool, device=p.device).scatter_(1, order, keep)

    probs = torch.softmax(logits, dim=-1)
    top, idx = probs.topk(min(candidates, probs.shape[-1]), dim=-1)
    mask = kept(top, idx)
    wide = (top.sum(-1) < top_p).nonzero().flatten()
    if len(wide):  # the nucleus reaches past the candidates: the full sort
        mask[wide] = kept(*probs[wide].sort(dim=-1, descending=True))
    return mask
