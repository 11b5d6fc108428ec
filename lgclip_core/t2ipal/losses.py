"""Multi-label losses on logits ``(B, C)`` with 0/1 targets.

Default: the **ranking loss** of TaI-DPT (hinge on every positive/negative class pair of an image). Why: the
TaI baseline is trained with it, so using the same loss for T2I-PAL and all ablations makes the comparison
about the training *data* (text vs generated images) and the *modules*, not about the loss. It also suits
cosine logits: it only needs positives to outscore negatives by a margin, not calibrated probabilities, and
it is invariant to a per-image shift that the synthetic-to-real domain change tends to introduce.
The **asymmetric loss** (ASL, Ridnik et al. 2021) is provided as the alternative most multi-label methods use
(it down-weights the many easy negatives); ``trainer.TrainConfig(loss="asl")`` switches to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import BadInputError

__all__ = ["ranking_loss", "asymmetric_loss", "LOSSES"]


def _check(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if logits.ndim != 2 or logits.shape != targets.shape:
        raise BadInputError(f"logits and targets must both be (B, C), got {tuple(logits.shape)} and "
                            f"{tuple(targets.shape)}")
    return targets.to(logits.dtype)


def ranking_loss(logits: torch.Tensor, targets: torch.Tensor, margin: float = 1.0,
                 reduction: str = "mean") -> torch.Tensor:
    """Hinge ``relu(margin - s_i + s_j)`` on every (positive i, negative j) pair of an image.

    ``reduction="mean"`` (ours): mean over an image's pairs, then over the images that have a pair (images
    without a positive or without a negative do not count); the mean keeps the loss scale independent of the
    number of classes (80 on COCO, 10 here). ``reduction="sum"`` (TaI-DPT, trainers/utils.py ``ranking_loss``):
    sum over an image's pairs, then the mean over every image of the batch (an image without a pair adds 0).
    """
    y = _check(logits, targets)
    if reduction not in ("mean", "sum"):
        from ..errors import UnknownNameError

        raise UnknownNameError("ranking-loss reduction", reduction, ["mean", "sum"])
    diff = margin - logits[:, :, None] + logits[:, None, :]  # [b, i, j] = margin - s_i + s_j
    pairs = y[:, :, None] * (1 - y)[:, None, :]
    per_pair = F.relu(diff) * pairs
    if reduction == "sum":
        return per_pair.sum((1, 2)).mean()
    n_pairs = pairs.sum((1, 2))
    per_image = per_pair.sum((1, 2)) / n_pairs.clamp_min(1)
    has = n_pairs > 0
    if not bool(has.any()):
        return logits.sum() * 0.0
    return per_image[has].mean()


def asymmetric_loss(logits: torch.Tensor, targets: torch.Tensor, gamma_pos: float = 0.0, gamma_neg: float = 4.0,
                    clip: float = 0.05, eps: float = 1e-8) -> torch.Tensor:
    """ASL: focal down-weighting of negatives (gamma_neg) and probability shifting by ``clip``; mean over
    images of the sum over classes (as in the reference implementation, divided by the batch size)."""
    y = _check(logits, targets)
    p = torch.sigmoid(logits)
    p_neg = (p - clip).clamp(min=0) if clip > 0 else p
    loss_pos = y * torch.log(p.clamp(min=eps)) * (1 - p) ** gamma_pos
    loss_neg = (1 - y) * torch.log((1 - p_neg).clamp(min=eps)) * p_neg ** gamma_neg
    return -(loss_pos + loss_neg).sum(1).mean()


LOSSES = {"ranking": ranking_loss, "asl": asymmetric_loss}
