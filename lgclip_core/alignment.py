"""A small offline "CLIP": locked image and text towers + learned linear projections (LiT-style).

Offline there is no CLIP, so text zero-shot needs a joint space. We keep EfficientNet-Lite0 and MiniLM frozen
and learn two projections into a shared D-dim space with a symmetric contrastive loss on GENERATED images and
the captions they were generated from — no real labelled image is used. Captions of the same class are
treated as positives of each other (multi-positive InfoNCE): with only a handful of classes, plain InfoNCE
would push apart the many same-class pairs that share a batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import trange

from .errors import BadInputError
from .prototypes import _check_features


class LiTAligner:
    """``fit(image_feats, text_feats, groups)`` learns ``image_proj`` and ``text_proj`` (``nn.Linear``)."""

    def __init__(self, dim: int = 256, epochs: int = 60, batch_size: int = 256, lr: float = 2e-3,
                 weight_decay: float = 1e-4, seed: int = 0):
        self.dim, self.epochs, self.batch_size, self.lr, self.weight_decay, self.seed = \
            dim, epochs, batch_size, lr, weight_decay, seed
        self.image_proj: nn.Linear | None = None
        self.text_proj: nn.Linear | None = None
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
        self.loss_history: list[float] = []

    def config(self) -> dict:
        return {"dim": self.dim, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                "weight_decay": self.weight_decay, "seed": self.seed, "loss": "multi-positive symmetric InfoNCE"}

    def fit(self, image_feats: np.ndarray, text_feats: np.ndarray, groups: np.ndarray | None = None,
            progress: bool = False) -> LiTAligner:
        xi = torch.from_numpy(_check_features(image_feats, "image_feats"))
        xt = torch.from_numpy(_check_features(text_feats, "text_feats"))
        if len(xi) != len(xt):
            raise BadInputError(f"{len(xi)} image features but {len(xt)} text features: pass aligned pairs")
        g = torch.arange(len(xi)) if groups is None else torch.as_tensor(np.asarray(groups))
        torch.manual_seed(self.seed)
        self.image_proj = nn.Linear(xi.shape[1], self.dim)
        self.text_proj = nn.Linear(xt.shape[1], self.dim)
        params = [*self.image_proj.parameters(), *self.text_proj.parameters(), self.logit_scale]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(self.seed)
        n = len(xi)
        steps = max(1, n // self.batch_size) * self.epochs
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in trange(self.epochs, desc="LiT projections", disable=not progress, leave=False):
            perm = torch.randperm(n, generator=gen)
            for i in range(0, max(1, n - self.batch_size + 1), self.batch_size):
                idx = perm[i:i + self.batch_size]
                zi = F.normalize(self.image_proj(xi[idx]), dim=-1)
                zt = F.normalize(self.text_proj(xt[idx]), dim=-1)
                logits = self.logit_scale.exp().clamp(max=100) * zi @ zt.T
                pos = (g[idx][:, None] == g[idx][None, :]).float()
                target = pos / pos.sum(1, keepdim=True)
                loss = 0.5 * (-(target * logits.log_softmax(1)).sum(1).mean()
                              - (target * logits.log_softmax(0)).sum(0).mean())
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                self.loss_history.append(float(loss.detach()))
        return self

    def _check(self) -> None:
        if self.image_proj is None or self.text_proj is None:
            raise BadInputError("LiTAligner is not fitted: call fit() or LiTAligner.load(path) first")

    @torch.no_grad()
    def embed_images(self, feats: np.ndarray) -> np.ndarray:
        self._check()
        return F.normalize(self.image_proj(torch.from_numpy(_check_features(feats, "feats"))), dim=-1).numpy()

    @torch.no_grad()
    def embed_texts(self, feats: np.ndarray) -> np.ndarray:
        self._check()
        return F.normalize(self.text_proj(torch.from_numpy(_check_features(feats, "feats"))), dim=-1).numpy()

    def zero_shot_scores(self, image_feats: np.ndarray, class_text_feats: np.ndarray) -> np.ndarray:
        """Cosine similarity (N, K) of images to class text embeddings (rows: one averaged prompt set per class)."""
        t = self.embed_texts(class_text_feats)
        return self.embed_images(image_feats) @ t.T

    def save(self, path: str | Path) -> None:
        self._check()
        state = {f"image_proj.{k}": v for k, v in self.image_proj.state_dict().items()}
        state.update({f"text_proj.{k}": v for k, v in self.text_proj.state_dict().items()})
        state["logit_scale"] = self.logit_scale.detach().clone()
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> LiTAligner:
        state = load_file(str(path))
        w_i, w_t = state["image_proj.weight"], state["text_proj.weight"]
        self = cls(dim=w_i.shape[0])
        self.image_proj, self.text_proj = nn.Linear(w_i.shape[1], self.dim), nn.Linear(w_t.shape[1], self.dim)
        self.image_proj.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("image")})
        self.text_proj.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("text")})
        self.logit_scale = nn.Parameter(state["logit_scale"])
        return self
