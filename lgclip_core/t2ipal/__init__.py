"""T2I-PAL (arXiv 2506.10575): multi-label recognition learned from generated scenes, without official code.

Captions that name classes -> generated items composed into multi-label scenes -> a frozen "CLIP" with learned
prompts (global + local), class-wise heatmaps, learnable prototypes and a residual adapter, trained jointly with
TaI-DPT's ranking loss.

Modules: ``captions`` (writing, filtering, parsing labels), ``scenes`` (compositor, test scenes, the paper's
datasets), ``model`` (JointSpace, PromptLearner, ResidualAdapter, T2IPAL, METHODS), ``losses``, ``trainer``.
"""

from .captions import (
           CaptionSet,
           ClassVocabulary,
           filter_captions,
           llm_captions,
           render_prompts,
           template_captions,
)
from .losses import asymmetric_loss, ranking_loss
from .model import METHODS, T2IPAL, JointSpace, PromptLearner, ResidualAdapter, T2IPALConfig, configure
from .scenes import MultiLabelSet, compose, compose_scenes, make_test_scenes, sample_layouts
from .trainer import FeatureSet, TrainConfig, TrainResult, predict, train, train_config

__all__ = ["CaptionSet", "ClassVocabulary", "filter_captions", "llm_captions", "render_prompts", "template_captions",
           "asymmetric_loss", "ranking_loss", "METHODS", "JointSpace", "PromptLearner", "ResidualAdapter", "T2IPAL",
           "T2IPALConfig", "configure", "MultiLabelSet", "compose", "compose_scenes", "make_test_scenes",
           "sample_layouts", "FeatureSet", "TrainConfig", "TrainResult", "predict", "train", "train_config"]
