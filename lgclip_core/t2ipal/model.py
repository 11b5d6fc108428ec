"""T2I-PAL's model: multi-label scores from a frozen "CLIP" with learned prompts, heatmaps, prototypes, adapter.

The prompts are global + local, the heatmaps class-wise, the class prototypes learnable, and the residual adapter
is mixed with CLIP's prior by ``alpha``.

There is no official T2I-PAL code; each choice below is ours and says why. Where the code T2I-PAL builds on
(TaI-DPT, CLIP-Adapter) does otherwise, ``protocol="authors"`` follows it (``configure``; the registry is
``lgclip_core.protocols``, keys ``t2ipal.*``).

* **The "CLIP"** (``JointSpace``) = frozen image tower + ``image_proj`` and frozen text tower + ``text_proj``.
  Paper profile: open_clip's towers, whose outputs already share a space (projections = identity). Offline:
  EfficientNet-Lite0 and MiniLM with the LiT projections of ``alignment.LiTAligner``. One code path for both.
  Local (patch) features go through the same ``image_proj`` as global ones; for EfficientNet the global
  feature is the mean of the local map, so a linear projection keeps the two consistent (CLIP RN50's local
  features are likewise the attention pool's value/output projections of the final map, as in TaI-DPT).
* **Prompts** (CoOp / TaI-DPT): ``"X X X X {class}."`` is tokenised, and the embeddings of the ``n_ctx``
  placeholder tokens are replaced by learned context vectors, shared by all classes; the class-name tokens
  follow. Two sets: *global* context (scored against the global image feature) and *local* context (scored
  against every local feature), TaI-DPT's double-grained prompts. We initialise both from the embeddings of
  "a photo of a" (CoOp's initialisation option) so that training starts at the zero-shot prompt: with a small
  text tower that mean-pools all tokens, random context vectors would start far from any useful prompt.
  ``protocol="authors"`` (``configure``) uses TaI-DPT's 16 context tokens, randomly initialised N(0, 0.02^2)
  (its CTX_INIT is empty); methods with hand-written prompts keep "a photo of a" under both protocols.
* **Class-wise heatmaps**: ``H[b, c, p] = <local feature p, local text embedding of class c>`` — where on the
  image each class is. Aggregation (TaI-DPT): a spatial softmax of ``H / temperature`` weights the positions,
  local score = ``sum_p w * H``. TaI-DPT uses two temperatures: 1/50 over caption tokens (its training data)
  and 1/40 over image patches (``heat_temperature_text`` and ``heat_temperature``; ``forward(source=...)``).
* **Learnable prototypes**: one vector per class in the *image* space, initialised from the class's local
  text embedding. The heatmap weights pool the local features into one region feature per class; its cosine
  to the class prototype is the prototype score. Why: text embeddings stay in text space (the modality gap),
  prototypes can move to where *image* features of the class are — the gap the generated images let us close.
* **Adapter** on global and local image features, two conventions (``protocols`` key ``t2ipal.adapter``).
  ``"frozen_weight"`` (ours): ``x' = normalize(alpha * x + (1 - alpha) * (x + MLP(x)))``, which equals
  ``normalize(x + (1 - alpha) * MLP(x))``: ``alpha`` (0.8) only rescales a learnable MLP's output, so it does
  NOT bound how far a feature moves (the MLP can grow to undo any scale); it sets the MLP's effective step
  size. The MLP's last layer starts at zero, so the adapted model starts exactly at the frozen one.
  ``"clip_adapter"`` (CLIP-Adapter's code): ``x' = normalize(ratio * MLP(x) + (1 - ratio) * x)`` with
  ``ratio = 1 - alpha`` (0.2), the MLP ending in a ReLU and initialised at random (PyTorch's default).
* **Final score**: the mean of the active branch cosines (global, local, prototype) times ``logit_scale`` —
  a mean, not a sum, so the loss margin means the same in every ablation. With global + local only this is
  TaI-DPT's 0.5 / 0.5 test-time merge; the prototype branch (T2I-PAL's addition) enters with the same weight.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInputError, check_class_names

__all__ = ["JointSpace", "PromptLearner", "ResidualAdapter", "T2IPAL", "T2IPALConfig", "METHODS", "configure",
           "ADAPTER_CONVENTIONS"]


def _digest(module: nn.Module | None) -> str:
    import hashlib

    if module is None:
        return "identity"
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class JointSpace(nn.Module):
    """The frozen "CLIP" of a profile: (image tower + image_proj, text tower + text_proj), one space."""

    def __init__(self, image_encoder: Any, text_encoder: Any, image_proj: nn.Module | None = None,
                 text_proj: nn.Module | None = None):
        super().__init__()
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_proj = image_proj if image_proj is not None else nn.Identity()
        self.text_proj = text_proj if text_proj is not None else nn.Identity()
        self._digests = {"image_proj": _digest(image_proj), "text_proj": _digest(text_proj)}
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_aligner(cls, image_encoder: Any, text_encoder: Any, aligner: Any) -> JointSpace:
        """Towers + the projections of a fitted ``alignment.LiTAligner`` (offline profile)."""
        return cls(image_encoder, text_encoder, aligner.image_proj, aligner.text_proj)

    def config(self) -> dict[str, Any]:
        return {"image_encoder": self.image_encoder.config(), "text_encoder": self.text_encoder.config(),
                **self._digests}

    def text_tower(self, precision: str = "fp32") -> Any:
        """The text tower to run prompts through: the frozen one (fp32), or its bf16 twin for training.

        Why a twin: prompt tuning's cost is a forward + backward pass of the text tower at every step, and bf16
        weights (no per-call casts, which make autocast no faster on a CPU) with plain attention halve it on a
        CPU with native bf16. The twin is made once per joint space; prompts are still evaluated in fp32."""
        if precision == "fp32":
            return self.text_encoder
        if precision != "bf16":
            from ..errors import UnknownNameError

            raise UnknownNameError("training precision", precision, ["fp32", "bf16"])
        twins = self.__dict__.setdefault("_twins", {})  # not a submodule: kept out of state_dict / parameters
        if precision not in twins:
            import copy

            twin = copy.deepcopy(self.text_encoder).to(torch.bfloat16)
            config = getattr(getattr(twin, "model", None), "config", None)
            if config is not None and hasattr(config, "_attn_implementation"):
                config._attn_implementation = "eager"  # torch's CPU SDPA kernel is slower than plain attention in bf16
            twins[precision] = twin.requires_grad_(False).eval()
        return twins[precision]

    @property
    def dim(self) -> int:
        proj = self.text_proj
        return int(proj.out_features) if isinstance(proj, nn.Linear) else int(self.text_encoder.dim)

    # -- images ---------------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode_images(self, images: Any, size: int | None = None, batch_size: int = 64,
                      progress: bool = False, resize: str = "squash"
                      ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Global (N, D) and local (N, h*w, D) features, L2-normalised in the joint space, and (h, w).
        ``resize``: "squash" (the whole image to size x size) or "clip" (shorter side, bicubic, centre crop: the
        test transform of TaI-DPT's configs; protocols key ``t2ipal.test_resize``)."""
        from tqdm.auto import tqdm

        from ..encoders import to_float_batch

        enc = self.image_encoder
        enc.eval()
        size = size or enc.input_size
        gs, ls, grid = [], [], (0, 0)
        for i in tqdm(range(0, len(images), batch_size), desc="encode scenes", disable=not progress, leave=False):
            x = enc.normalize(to_float_batch(images[i:i + batch_size], size, resize=resize))
            g, loc = enc.features(x)
            grid = tuple(loc.shape[-2:])
            loc = F.normalize(loc.flatten(2).transpose(1, 2).float(), dim=-1)
            gs.append(self._proj_image(F.normalize(g.float(), dim=-1)).cpu())
            ls.append(self._proj_image(loc).cpu())
        return torch.cat(gs).numpy(), torch.cat(ls).numpy(), (int(grid[0]), int(grid[1]))

    def _proj_image(self, x: torch.Tensor) -> torch.Tensor:
        p = self.image_proj
        return F.normalize(p.to(x.device)(x) if not isinstance(p, nn.Identity) else x, dim=-1)

    # -- texts ----------------------------------------------------------------------------------------
    def project_text(self, x: torch.Tensor) -> torch.Tensor:
        """Text tower output (..., E) -> joint space (..., D), L2-normalised; differentiable."""
        return F.normalize(self.text_proj(F.normalize(x, dim=-1)), dim=-1)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        t = torch.from_numpy(self.text_encoder.encode(list(texts), batch_size=batch_size))
        return self.project_text(t).numpy()

    @torch.inference_mode()
    def encode_text_tokens(self, texts: Sequence[str], max_length: int = 32, batch_size: int = 128,
                           progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """TaI-DPT's "texts as images": pooled (N, D), per-token (N, L, D) features in the joint space and the
        token mask (N, L) (padding 0). Tokens play the role of an image's local features."""
        from tqdm.auto import tqdm

        te = self.text_encoder
        pooled, tokens, masks = [], [], []
        for i in tqdm(range(0, len(texts), batch_size), desc="encode captions", disable=not progress, leave=False):
            chunk = list(texts[i:i + batch_size])
            if hasattr(te, "hidden_states"):  # MiniLM: token states are what its mean pooling averages
                ids, mask = te.token_ids(chunk, max_length=max_length)
                emb = te.input_embeddings(ids)
                states = te.hidden_states(emb, mask)
                pool = te.encode_embeddings(emb, ids, mask)
            else:  # open_clip: every position through ln_final and the text projection
                ids, mask = te.token_ids(chunk)
                emb = te.input_embeddings(ids)
                x = te.transformer(emb + te.positional_embedding.to(emb.dtype), attn_mask=te.attn_mask)
                states = te.ln_final(x) @ te.text_projection
                pool = te.encode_embeddings(emb, ids, mask)
                eot = ids.argmax(-1)  # tokens after the end-of-text token are padding
                mask = (torch.arange(ids.shape[1], device=ids.device)[None] <= eot[:, None]).long()
                states, mask = states[:, :max_length], mask[:, :max_length]
            pad = max_length - states.shape[1]
            if pad > 0:
                states = F.pad(states, (0, 0, 0, pad))
                mask = F.pad(mask, (0, pad))
            pooled.append(self.project_text(pool.float()).cpu())
            tokens.append(self.project_text(states.float()).cpu() * mask[..., None].cpu())
            masks.append(mask.cpu())
        return torch.cat(pooled).numpy(), torch.cat(tokens).numpy(), torch.cat(masks).numpy().astype(np.float32)


class PromptLearner(nn.Module):
    """Learned context vectors before each class name, fed through the frozen text tower (CoOp)."""

    def __init__(self, joint: JointSpace, classnames: Sequence[str], n_ctx: int = 4,
                 ctx_init: str | None = "a photo of a", learn: bool = True, init_std: float | None = None):
        super().__init__()
        self.joint, self.classnames, self.n_ctx, self.learn = joint, check_class_names(classnames), n_ctx, learn
        te = joint.text_encoder
        prompts = [" ".join(["X"] * n_ctx + [c]) + "." for c in self.classnames]
        ids, mask = te.token_ids(prompts)
        x_id = ids[0, 1]
        if n_ctx < 1 or not bool((ids[:, 1:1 + n_ctx] == x_id).all()):
            raise BadInputError("the text tower's tokenizer does not put the n_ctx placeholder tokens right after "
                                "its first special token; this prompt learner needs a BERT- or CLIP-style tokenizer")
        with torch.no_grad():
            base = te.input_embeddings(ids).detach().float()
            init = None
            if ctx_init:  # CoOp's option: start from the embeddings of a hand-written context
                init_ids, init_mask = te.token_ids([ctx_init])
                if int(init_mask[0].sum()) - 2 == n_ctx:  # the words, without the two special tokens
                    init = te.input_embeddings(init_ids)[0, 1:1 + n_ctx].detach().float()
            init_local = None
            if init is None:  # CoOp's random initialisation: N(0, init_std^2) (TaI-DPT: 0.02), default the
                std = float(base.std()) if init_std is None else float(init_std)  # tower's embedding scale
                # two independent draws, global first, as TaI-DPT's ctx and ctx_double
                # (Caption_distill_double.py:104-113): the branches do not start as one prompt
                init = torch.randn(n_ctx, base.shape[-1]) * std
                init_local = torch.randn(n_ctx, base.shape[-1]) * std
        self.register_buffer("ids", ids, persistent=False)
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("base", base, persistent=False)
        # how the contexts started (part of the trained models' cache key: "random" changed in Dec 2026 from one
        # draw cloned into both to two independent draws)
        self.context_init = "words" if init_local is None else "random-independent"
        self.ctx_global = nn.Parameter(init.clone(), requires_grad=learn)
        self.ctx_local = nn.Parameter((init if init_local is None else init_local).clone(), requires_grad=learn)
        self._frozen: tuple[torch.Tensor, torch.Tensor] | None = None
        self.tower_precision = "fp32"  # ``tower``: the trainer's TrainConfig.precision while it trains

    @contextlib.contextmanager
    def tower(self, precision: str) -> Iterator[None]:
        """Within the block, prompts run through the text tower at ``precision`` (``JointSpace.text_tower``);
        afterwards (also after an error) through the frozen fp32 one again."""
        self.joint.text_tower(precision)  # an unknown precision fails here, before training starts
        self.tower_precision = precision
        try:
            yield
        finally:
            self.tower_precision = "fp32"

    def _encode(self, *contexts: torch.Tensor) -> torch.Tensor:
        """Class text embeddings (len(contexts) * C, D): every context's prompts through the tower in ONE pass
        (a training step's cost is this pass; one pass of 2C prompts measured ~15 % cheaper than two of C)."""
        te = self.joint.text_tower(self.tower_precision)
        n_cls = self.base.shape[0]
        embeds = torch.cat([torch.cat([self.base[:, :1], ctx[None].expand(n_cls, -1, -1),
                                       self.base[:, 1 + self.n_ctx:]], 1) for ctx in contexts])
        embeds = embeds.to(te.device, dtype=next(te.parameters()).dtype)
        k = len(contexts)
        return self.joint.project_text(te.encode_embeddings(embeds, self.ids.repeat(k, 1),
                                                            self.mask.repeat(k, 1)).float())

    def _both(self) -> tuple[torch.Tensor, torch.Tensor]:
        t_g, t_l = self._encode(self.ctx_global, self.ctx_local).chunk(2)
        return t_g, t_l

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Class text embeddings (C, D) for the global and the local branch."""
        if self.learn and torch.is_grad_enabled():
            return self._both()
        if self.learn:  # evaluation of learned prompts: no graph, recomputed (the context may have changed)
            with torch.no_grad():
                return self._both()
        if self._frozen is None:  # hand-written prompts never change: encode once
            with torch.no_grad():
                self._frozen = self._both()
        return self._frozen


ADAPTER_CONVENTIONS = ("frozen_weight", "clip_adapter")


class ResidualAdapter(nn.Module):
    """A bottleneck MLP mixed with the frozen feature, in one of two conventions (module docstring).

    ``frozen_weight``: ``normalize(alpha * x + (1 - alpha) * (x + MLP(x)))`` = ``normalize(x + (1 - alpha) *
    MLP(x))``; the MLP's last layer starts at zero, so the adapter starts as the identity. ``alpha`` rescales
    the MLP's output; it does not bound how far a feature can move.
    ``clip_adapter`` (CLIP-Adapter, clip_adapter.py): ``normalize(ratio * MLP(x) + (1 - ratio) * x)`` with
    ``ratio = 1 - alpha``; the MLP is Linear-ReLU-Linear-ReLU (no biases), PyTorch's default initialisation.
    """

    def __init__(self, dim: int, reduction: int = 4, alpha: float = 0.8, convention: str = "frozen_weight"):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise BadInputError(f"alpha (weight of CLIP's frozen feature) must be in [0, 1], got {alpha}")
        if convention not in ADAPTER_CONVENTIONS:
            from ..errors import UnknownNameError

            raise UnknownNameError("adapter convention", convention, ADAPTER_CONVENTIONS)
        self.alpha, self.convention = float(alpha), convention
        hidden = max(1, dim // reduction)
        layers: list[nn.Module] = [nn.Linear(dim, hidden, bias=False), nn.ReLU(inplace=True),
                                   nn.Linear(hidden, dim, bias=False)]
        if convention == "clip_adapter":
            layers.append(nn.ReLU(inplace=True))
        else:
            nn.init.zeros_(layers[2].weight)
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.convention == "clip_adapter":
            ratio = 1.0 - self.alpha  # CLIP-Adapter's residual ratio: the weight of the MLP's output
            return F.normalize(ratio * self.mlp(x) + (1 - ratio) * x, dim=-1)
        adapted = x + self.mlp(x)  # A(x): a residual block that starts as the identity
        return F.normalize(self.alpha * x + (1 - self.alpha) * adapted, dim=-1)


@dataclass
class T2IPALConfig:
    """Switches and hyper-parameters of the model (each ablation is one of these)."""

    n_ctx: int = 4
    ctx_init: str | None = "a photo of a"
    ctx_init_std: float | None = None  # random context init when ctx_init does not fit (None: embedding scale)
    learn_prompts: bool = True
    use_global: bool = True
    use_local: bool = True
    use_heatmap: bool = True
    use_prototypes: bool = True
    use_adapter: bool = True
    alpha: float = 0.8
    adapter_reduction: int = 4
    adapter: str = "frozen_weight"  # or "clip_adapter" (ResidualAdapter)
    logit_scale: float = 10.0
    heat_temperature: float = 0.05  # spatial softmax over image patches
    heat_temperature_text: float | None = None  # over caption tokens (TaI's training data); None: the same


def configure(config: T2IPALConfig, protocol: Any, dataset: str | None = None) -> T2IPALConfig:
    """``config`` with the model choices of a protocol (``protocols.resolve(..., "t2ipal")``) applied.

    Methods with hand-written prompts (``learn_prompts=False``) keep "a photo of a": TaI-DPT's zero-shot
    baseline (its zsclip trainer) uses hand-written templates too, so only learned contexts follow n_ctx.
    ``dataset`` picks a dataset-specific image temperature where the protocol has one ("image:<dataset>").
    """
    ctx = protocol["t2ipal.n_ctx"]
    temp = protocol["t2ipal.spatial_temperature"]
    image_temp = temp.get(f"image:{dataset}", temp["image"]) if dataset else temp["image"]
    kw: dict[str, Any] = {"logit_scale": float(protocol["t2ipal.logit_scale"]), "adapter": protocol["t2ipal.adapter"],
                          "heat_temperature": float(image_temp), "heat_temperature_text": float(temp["text"])}
    if config.learn_prompts:
        kw.update(n_ctx=int(ctx["n_ctx"]), ctx_init=ctx["ctx_init"], ctx_init_std=ctx["init_std"])
    return replace(config, **kw)


# The methods of the benchmark: model switches (training data is decided by the experiment).
METHODS: dict[str, T2IPALConfig] = {
    "zero_shot": T2IPALConfig(learn_prompts=False, use_local=False, use_prototypes=False, use_adapter=False),
    "tai": T2IPALConfig(use_prototypes=False, use_adapter=False),
    "t2ipal": T2IPALConfig(),
    "no_heatmap": T2IPALConfig(use_heatmap=False),
    "no_prototypes": T2IPALConfig(use_prototypes=False),
    "no_adapter": T2IPALConfig(use_adapter=False),
    "prompt_only": T2IPALConfig(use_prototypes=False, use_adapter=False),
    "adapter_only": T2IPALConfig(learn_prompts=False, use_prototypes=False),
}


class T2IPAL(nn.Module):
    """Scores ``(B, C)`` from global ``(B, D)`` and local ``(B, P, D)`` features (mask ``(B, P)``, 1 = valid)."""

    def __init__(self, joint: JointSpace, classnames: Sequence[str], config: T2IPALConfig | None = None,
                 seed: int = 0):
        super().__init__()
        self.config = config or T2IPALConfig()
        cfg = self.config
        if not (cfg.use_global or cfg.use_local):
            raise BadInputError("enable at least one of use_global / use_local")
        self.joint = joint
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.prompts = PromptLearner(joint, classnames, cfg.n_ctx, cfg.ctx_init, learn=cfg.learn_prompts,
                                         init_std=cfg.ctx_init_std)
            dim = joint.dim
            self.adapter = (ResidualAdapter(dim, cfg.adapter_reduction, cfg.alpha, cfg.adapter)
                            if cfg.use_adapter else None)
            if cfg.use_prototypes:
                with torch.no_grad():
                    init = self.prompts._encode(self.prompts.ctx_local)
                self.prototypes = nn.Parameter(init.clone())
            else:
                self.prototypes = None
        self.to(joint.text_encoder.device)  # learned parts live with the text tower (GPU in the paper profile)

    @property
    def device(self) -> torch.device:
        return self.prompts.base.device

    def train(self, mode: bool = True) -> T2IPAL:
        """Train mode for the learned parts only: the frozen towers stay in eval mode (no dropout)."""
        super().train(mode)
        self.joint.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if p.requires_grad and not _frozen_name(n)]

    def _adapt(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(x) if self.adapter is not None else x

    def forward(self, global_feats: torch.Tensor, local_feats: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, return_parts: bool = False, source: str = "image") -> Any:
        """Logits ``(B, C)``: ``logit_scale`` x the mean of the branch cosines; with ``return_parts`` also the
        per-branch cosines (unscaled) and the heatmaps. ``source`` ("image" or "text": caption tokens as local
        features) picks the spatial softmax temperature."""
        cfg = self.config
        if source not in ("image", "text"):
            raise BadInputError(f"source must be 'image' or 'text', got {source!r}")
        temperature = (cfg.heat_temperature_text if source == "text" and cfg.heat_temperature_text is not None
                       else cfg.heat_temperature)
        dev = self.device
        global_feats = global_feats.to(dev)
        local_feats = None if local_feats is None else local_feats.to(dev)
        mask = None if mask is None else mask.to(dev)
        t_g, t_l = self.prompts()
        parts: dict[str, torch.Tensor] = {}
        if cfg.use_global:
            parts["global"] = self._adapt(global_feats) @ t_g.T
        if cfg.use_local:
            if local_feats is None:
                raise BadInputError("this configuration uses local features: pass local_feats (B, P, D)")
            loc = self._adapt(local_feats)
            heat = torch.einsum("bpd,cd->bcp", loc, t_l)  # class-wise heatmaps
            valid = torch.ones_like(heat[:, :1]) if mask is None else mask[:, None, :].to(heat.dtype)
            if cfg.use_heatmap:
                w = (heat / temperature).masked_fill(valid == 0, float("-inf")).softmax(-1)
            else:
                w = valid.expand_as(heat) / valid.sum(-1, keepdim=True).clamp_min(1)
            parts["local"] = (w * heat).sum(-1)
            if self.prototypes is not None:
                region = F.normalize(torch.einsum("bcp,bpd->bcd", w, loc), dim=-1)
                parts["prototype"] = (region * F.normalize(self.prototypes, dim=-1)[None]).sum(-1)
            parts["heatmap"] = heat
        scores = [v for k, v in parts.items() if k != "heatmap"]
        logits = cfg.logit_scale * torch.stack(scores).mean(0)
        return (logits, parts) if return_parts else logits

    @torch.no_grad()
    def heatmaps(self, local_feats: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
        """Class-wise heatmaps (B, C, h, w): cosine of each (adapted) local feature to each local class text."""
        _, t_l = self.prompts()
        heat = torch.einsum("bpd,cd->bcp", self._adapt(local_feats.to(self.device)), t_l)
        return heat.reshape(heat.shape[0], heat.shape[1], *grid).cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return {**asdict(self.config), "n_trainable": int(sum(p.numel() for p in self.trainable_parameters()))}

    def learned_state(self) -> dict[str, torch.Tensor]:
        """The trained tensors only (prompts, adapter, prototypes), for safetensors files."""
        return {n: p.detach().cpu().contiguous() for n, p in self.named_parameters() if not _frozen_name(n)}

    def load_learned_state(self, state: dict[str, torch.Tensor]) -> T2IPAL:
        """Inverse of ``learned_state`` (e.g. from ``safetensors.torch.load_file``)."""
        own = dict(self.named_parameters())
        missing = sorted(set(self.learned_state()) - set(state))
        if missing:
            raise BadInputError(f"the saved state lacks {missing}: it was saved from another configuration")
        with torch.no_grad():
            for k, v in state.items():
                own[k].copy_(v)
        return self


def _frozen_name(name: str) -> bool:
    return name.startswith("joint.") or ".joint." in name


def nearest_tokens(text_encoder: nn.Module, vectors: torch.Tensor) -> list[str]:
    """The vocabulary token whose input embedding is nearest (cosine) to each of ``vectors`` (n, D): CoOp's rough
    reading of learned context vectors. Works for the BERT word pieces of MiniLM and CLIP's BPE."""
    tok = text_encoder.tokenizer
    hf = hasattr(tok, "convert_ids_to_tokens")
    n_vocab = len(tok) if hf else int(getattr(tok, "vocab_size", 49408))
    with torch.no_grad():
        table = text_encoder.input_embeddings(torch.arange(n_vocab, device=text_encoder.device))
        table = F.normalize(table.float(), dim=-1)
        ids = (F.normalize(vectors.detach().float().to(table.device), dim=-1) @ table.T).argmax(-1).tolist()
    return tok.convert_ids_to_tokens(ids) if hf else [tok.decoder.get(i, str(i)) for i in ids]


def context_drift(learned: PromptLearner, start: PromptLearner) -> dict[str, dict[str, list]]:
    """Per branch (``ctx_global``, ``ctx_local``): the nearest vocabulary token of each learned context vector
    and its cosine to the vector it started from."""
    out = {}
    for branch in ("ctx_global", "ctx_local"):
        ctx, ctx0 = getattr(learned, branch).detach(), getattr(start, branch).detach()
        cos = F.cosine_similarity(ctx.float(), ctx0.float().to(ctx.device), dim=-1)
        out[branch] = {"nearest tokens": nearest_tokens(learned.joint.text_encoder, ctx),
                       "cosine to the initial context": [round(float(x), 3) for x in cos]}
    return out
