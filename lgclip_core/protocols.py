"""Protocols: every named choice where the authors' released code and ours differ, in one registry.

A reader who compares our numbers with a paper's needs to know, choice by choice, what the authors' code does
and what we do instead. Each ``Choice`` below records both values, why we differ and where in the authors'
code to look. ``protocol="authors"`` runs what the authors' released code does (wherever the data allow);
``protocol="clean"`` runs what we believe is better. The experiments read their settings from here, the results
manifest lists the active choices (``active``), and the book's "Differences from the authors' code" page is
rendered from this list (``table``) — nothing about a difference is typed anywhere else.

References: LGCLIP's released code is github DianxingShi/LG-CLIP; T2I-PAL has no released code, so its choices
refer to the code it builds on (TaI-DPT, github guozix/TaI-DPT) and the conventions that code inherits
(CLIP-Adapter for the adapter, ML-GCN for the top-3 F1 rule and VOC's "difficult" objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import UnknownNameError
from .registry import NamedMapping

PROTOCOLS = ("authors", "clean")
PAPERS = ("lgclip", "t2ipal")

# The protocol each zoo profile runs when none is named. ``paper`` (and its random-weight twin) reproduce the
# authors; ``offline`` runs whichever protocol measured better on the full Fashion-MNIST test set
# (results/offline/lgclip.json holds both numbers); ``tiny`` tests mechanics.
DEFAULT_PROTOCOL: dict[str, str | dict[str, str]] = {
    "paper": "authors", "paper-shapes": "authors", "offline": "clean", "tiny": "clean"}


@dataclass(frozen=True)
class Choice:
    """One decision point: the authors' value and ours, in words and as the value the code reads."""

    key: str  # "<paper>.<what>", the name the code reads
    title: str
    authors: Any  # the value under protocol="authors"
    clean: Any  # the value under protocol="clean"
    authors_do: str  # what the authors' released code does
    we_do: str  # what protocol="clean" does
    why: str  # why clean differs (or, for adopted choices, why we follow the authors)
    where: str  # where in the authors' code (repository and file)
    kept: bool = False  # the authors differ, and we keep ours under BOTH protocols (``why`` says why)

    @property
    def paper(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def differs(self) -> bool:
        return self.authors != self.clean

    def value(self, protocol: str) -> Any:
        return getattr(self, _check_protocol(protocol))

    @property
    def status(self) -> str:
        """protocol choice (``--protocol authors`` follows them) / kept under both protocols / adopted."""
        return "protocol choice" if self.differs else "kept (both protocols)" if self.kept else \
            "adopted from the authors"


LGCLIP_REPO = "DianxingShi/LG-CLIP"
TAI_REPO = "guozix/TaI-DPT"

CHOICES: tuple[Choice, ...] = (
    # ------------------------------------------------------------------------------------------- LGCLIP
    Choice("lgclip.split", "Test split and class names",
           "coop", "coop",
           "reads CoOp's split files, renamed split_<Name>.json ([path, label, classname]; train and test); class "
           "names are the split file's with '_' as ' ' (Flowers via cat_to_name.json, Food via meta/classes.txt: "
           "the same names), e.g. 'Sea or Lake'; CUB-200: its own train_test_split.txt (5,994 / 5,794) and "
           "classes.txt ('001.Black_footed_Albatross' -> 'Black footed Albatross'); ImageNet: the validation "
           "folders as test, named by their folder names, and the same validation images as 'train'",
           "the same splits and names: the CoOp file $LGCLIP_DATA/<CoOp folder>/split_zhou_<Name>.json (or the "
           "authors' split_<Name>.json), CUB's own files under $LGCLIP_DATA/CUB_200_2011/, ImageNet images/val as "
           "test with CLIP's class names; real-image references always come from the train split (ImageNet: "
           "images/train), never from a test image",
           "adopted: every CLIP zero-shot number in the literature uses these splits; torchvision's splits "
           "differ in size (Flowers test 6,149 vs 2,463) and change the numbers. Only ImageNet's real-image "
           "references differ: the authors' would be fit on the test images",
           f"{LGCLIP_REPO}: utils/myDataset.py:39-78 (CUB), 85-115 (Flowers), 122-148 (Pets), 155-183 (Food), "
           "190-231 (ImageNet), 234-260 (EuroSAT), 288 (change_form); CoOp (KaiyangZhou/CoOp): datasets/*.py, "
           "DATASETS.md"),
    Choice("lgclip.prompting", "How the LLM is asked for descriptions",
           "one_request", "per_description",
           "one chat request per class (xAI grok-beta, temperature 0.7) for 10 descriptions at once, each "
           "starting '{class}, which has ...', describing colour, shape, texture with varied viewpoints, one per "
           "line without numbering; the answer is split at newlines and only the first line is rendered, for "
           "every image of the class",
           "one request per description, each asking for colour, shape, texture and viewpoint in one sentence "
           "(the assistant turn pre-filled with '{class}, which has'), seeded per class",
           "a small local model keeps the format only when it writes one sentence at a time; every description "
           "(description 0 is the only one LGCLIP renders) covers all four aspects",
           f"{LGCLIP_REPO}: prompts_gen.py:36-83 (request, split), llm_sd_gen.py:129 (first description)"),
    Choice("lgclip.sampling", "Stable Diffusion call",
           {"steps": 50, "guidance": 7.5, "dtype": "float32"}, {"steps": 25, "guidance": 7.5, "dtype": "float16"},
           "AutoPipelineForText2Image.from_pretrained(SD 2.1-base) in float32, called with the prompt and a "
           "device generator seeded i only: diffusers' defaults of 50 steps, guidance 7.5, 512 px "
           "(25 steps only in their SDXL branch)",
           "25 steps, guidance 7.5, float16 on a GPU (float32 on a CPU)",
           "half the sampling time; at 25 DPM-Solver/PNDM steps SD 2.1-base images are visually converged",
           f"{LGCLIP_REPO}: llm_sd_gen.py:121 (pipeline), 157-178 (call; SDXL branch 164-175)"),
    Choice("lgclip.jpeg_roundtrip", "Generated images saved as JPEG and read back",
           True, False,
           "saves every generated image as a .jpg (torchvision ToPILImage, PIL's JPEG defaults: quality 75) and "
           "re-reads it with Image.open(...).convert('RGB') for encoding (ToPILImage truncates floats to uint8; "
           "our round-trip starts from rounded pixels, at most 1/255 apart)",
           "keeps the generated pixels as they are (lossless uint8 arrays in the cache)",
           "JPEG artefacts are an accident of storage, not part of the method",
           f"{LGCLIP_REPO}: llm_sd_gen.py:180-181 (save), gen_feat.py:65, muti_scale_gen_feat.py:65 (read)"),
    Choice("lgclip.single_view_resize", "Single-view preprocessing",
           "clip", "squash",
           "CLIP's preprocess on PIL images: resize the shorter side to the input size (224, bicubic), "
           "centre-crop 224 x 224 — for real test, real train and generated single views",
           "resize the whole image to the encoder's square input (bilinear, antialiased): nothing is cut off",
           "the full view keeps objects near the border; it matches the s = 10 scale of the multi-scale module",
           f"{LGCLIP_REPO}: clip/clip.py:89-96 (_transform), used in vanilla_clip.py:158-159, gen_feat.py:219, "
           "text_gen_Ngen_made.py:184"),
    Choice("lgclip.multiscale_interpolation", "Resizing of multi-scale crops",
           "bicubic", "bilinear",
           "RandomResizedCrop(224, scale=(s/10, s/10), BICUBIC) on PIL images, i.e. PIL's bicubic filter "
           "(antialiased when shrinking), then ToTensor (uint8 / 255); crop positions come from the global "
           "torch RNG seeded once (2024), in os.listdir order",
           "the same crops resized bilinear with antialiasing",
           "antialiasing avoids aliasing when a large crop is shrunk; bicubic without it rings on sharp edges",
           f"{LGCLIP_REPO}: muti_scale_gen_feat.py:260-271, vanilla_clip_ms.py:210-221"),
    Choice("lgclip.scoring", "How a test image scores a class",
           "unnormalised_mean", "cosine",
           "dot product of the L2-normalised test feature with the UNnormalised mean of the class's "
           "L2-normalised generated features: ||m_c|| * cos (a class whose images agree scores higher)",
           "cosine similarity: the prototype (mean) is L2-normalised again",
           "a prototype's norm measures how alike its images are, not how likely its class is; the cosine "
           "treats every class alike",
           f"{LGCLIP_REPO}: mega.py:150 (torch.mean(gen_f, dim=1)), mega.py:158 (test_f @ prototypes.T); "
           "per-image L2 normalisation in gen_feat.py:70"),
    Choice("lgclip.top_n", "Which N of the generated images a class keeps (N < 10)",
           "top_text_similarity", "first",
           "generates 10 images per class and keeps N of them ranked by the CLIP backbone that also encodes the "
           "prototypes ('A photo of a {class}.', single-view preprocess; the ranking file's name carries the "
           "backbone and gen_feat.py reads only its own): images whose zero-shot prediction is their own class "
           "first, each group by descending similarity to the own class's text",
           "keeps images 0..N-1 (seeds 0..N-1): N images cost N renders",
           "ranking needs all 10 renders and a text tower aligned with the image encoder; the first N are an "
           "unbiased sample of the generator",
           f"{LGCLIP_REPO}: text_gen_Ngen_made.py:146, 191-217, 224-230 (file name); read by gen_feat.py:195-198 "
           "and muti_scale_gen_feat.py:236-253"),
    Choice("lgclip.text_prompts", "Prompts of the text zero-shot baseline",
           "single_template", "imagenet_80",
           "one prompt per class, 'A photo of a {class}.' ('_' as ' '), L2-normalised; the test image scores the "
           "classes by cosine (no logit scale)",
           "open_clip's 80 ImageNet templates per class, their L2-normalised features averaged and normalised "
           "again (CLIP's prompt ensemble); the hybrid and self-training read the same scores",
           "the ensemble is CLIP's published zero-shot recipe and the number readers compare with (open_clip's "
           "results table); one template understates text zero-shot",
           f"{LGCLIP_REPO}: vanilla_clip.py:41-46 (prompt), 66-67, 179-180 (scoring)"),
    Choice("lgclip.request_wording", "The LLM request's wording and the answer's parsing",
           "ours", "ours",
           "one chat request per class to xAI grok-beta (temperature 0.7, no top_p, no token limit, no retry): "
           "system 'You are a creative assistant helping to generate detailed visual descriptions for machine "
           "learning image generation tasks.'; the user message asks for n descriptions starting '{c}, which has "
           "...', with an inline example ('abyssinian, which has a sleek golden-tan coat, ...'), 'no numbering, no "
           "extra commentary'; the answer is split at newlines, every non-empty stripped line is kept as it is "
           "(a preamble or numbering would survive), line 0 is rendered, 'A photo of a {c}.' if there is none",
           "under both protocols: the request in our words as a numbered list with a worked example turn and the "
           "first item pre-filled; lines that do not start '{c}, which has' are dropped, each line cut at 60 words, "
           "duplicates dropped and missing ones re-drawn; top-p 0.95",
           "kept: SmolLM2-135M (offline) copies an inline example into every line and drifts out of the format "
           "without the numbered list and pre-fill; the filter keeps preambles out of the prompt that is rendered. "
           "A hosted model as large as the authors' would not need it",
           f"{LGCLIP_REPO}: prompts_gen.py:43-79 (request), 78 (split), llm_sd_gen.py:129 (line 0)", kept=True),
    Choice("lgclip.imagenet_names", "ImageNet class names",
           "clip", "clip",
           "the sorted synset folder names of the validation set (e.g. 'n01440764') are the class names of "
           "every text step: the LLM request, the plain template, the text baseline and the ranking",
           "CLIP's ImageNet class names (CoOp's classnames.txt, else open_clip's list), same label order",
           "kept: a synset id gives a text model nothing to describe; the authors' code as released would make every "
           "text-driven number near chance, which their paper's numbers show it was not",
           f"{LGCLIP_REPO}: utils/myDataset.py:205-218", kept=True),
    # ------------------------------------------------------------------------------------------ T2I-PAL
    Choice("t2ipal.n_ctx", "Prompt context: length and initialisation",
           {"n_ctx": 16, "ctx_init": None, "init_std": 0.02},
           {"n_ctx": 4, "ctx_init": "a photo of a", "init_std": None},
           "16 learnable context tokens, one generic set for the global and one for the local prompts, initialised "
           "at random N(0, 0.02^2) (CTX_INIT is empty)",
           "4 context tokens initialised from the embeddings of 'a photo of a' (CoOp's option), so training starts "
           "at the zero-shot prompt; methods with hand-written prompts use 'a photo of a' under both protocols",
           "our generated training sets are small (about a thousand images): fewer parameters overfit less, and "
           "starting at the zero-shot prompt keeps the few steps we train from wandering",
           f"{TAI_REPO}: train_caption.py:86-88 (N_CTX 16, CTX_INIT ''), scripts/main.sh:38-40 (NCTX 16), "
           "trainers/Caption_distill_double.py:98-113 (random init, std 0.02)"),
    Choice("t2ipal.logit_scale", "Scale of the cosine logits (loss and test)",
           4.0, 10.0,
           "a fixed scale 4.0 (IF_LEARN_SCALE False) multiplies the global and the local cosine logits, which feed "
           "the ranking loss (margin 1, scale_ 1.0) and the test scores",
           "scale 10",
           "the ranking loss's margin is 1: at scale 4 a positive must beat a negative by 0.25 in cosine, "
           "more than the spread of CLIP-like cosines",
           f"{TAI_REPO}: trainers/Caption_distill_double.py:319-326, 349-358, 474; "
           "configs/trainers/Caption_distill_double/rn50_voc2007.yaml:28"),
    Choice("t2ipal.spatial_temperature", "Temperature of the spatial softmax over local scores",
           {"text": 1 / 50, "image": 1 / 40, "image:nus-wide": 1 / 4}, {"text": 0.05, "image": 0.05},
           "softmax over positions of scale * cosine, then the cosine-weighted sum: scale 50 over caption tokens "
           "(training, spatial_SCALE_text) and 40 over image patches (test, spatial_SCALE_image; 4 in the "
           "NUS-WIDE config; train_caption.py's default is 50 for both)",
           "temperature 0.05 (scale 20) for tokens and patches alike",
           "our local maps are coarse (4 x 4 at 112 px): a sharper softmax keeps one position only",
           f"{TAI_REPO}: trainers/Caption_distill_double.py:324-326, 356-358; "
           "configs/trainers/Caption_distill_double/rn50_{voc2007,coco2014,nuswide}.yaml:30-31"),
    Choice("t2ipal.text_length", "Caption length in tokens",
           77, 32,
           "captions tokenised with clip.tokenize's full 77-token context; every token up to the end-of-text token "
           "is a local feature of the caption (padding masked with -10000)",
           "caption token features truncated at 32 tokens",
           "our captions are one short sentence; 32 tokens cost less than half the text-tower time",
           f"{TAI_REPO}: datasets/voc2007_distill.py:134, 161, 166 (clip/clip.py:185, context_length=77); "
           "trainers/Caption_distill_double.py:347"),
    Choice("t2ipal.loss", "Loss over the branches",
           "per_branch", "mean_of_branches",
           "'double_ranking': one ranking loss on the global and one on the local logits (both scaled by 4), "
           "summed; each sums the hinge over an image's (positive, negative) pairs and averages over the batch; "
           "at test the global and local logits are merged 0.5 / 0.5 (GL_merge_rate). The prototype branch is "
           "T2I-PAL's addition: under this protocol it gets a third loss of the same form, and the test score is "
           "the equal-weight mean of the branches (0.5 / 0.5 when there are two)",
           "one ranking loss on the evaluated score (the mean of the active branches: global, local, prototype), "
           "averaging the hinge over an image's pairs and over the images that have a pair",
           "the loss then trains exactly the score that is evaluated, and its scale does not grow with the number "
           "of classes",
           f"{TAI_REPO}: trainers/Caption_distill_double.py:473-474, trainers/utils.py:85-93 (ranking_loss), "
           "Dassl.pytorch-master/dassl/evaluation/evaluator.py:216-228, train_caption.py:91"),
    Choice("t2ipal.adapter", "Adapter residual convention",
           "clip_adapter", "frozen_weight",
           "CLIP-Adapter: x' = ratio * MLP(x) + (1 - ratio) * x with ratio 0.2 the weight of the MLP's output; "
           "MLP = Linear-ReLU-Linear-ReLU without biases, reduction 4, PyTorch's random initialisation (applied "
           "to the unnormalised image feature; ours are L2-normalised)",
           "x' = normalize(alpha * x + (1 - alpha) * (x + MLP(x))) = normalize(x + (1 - alpha) * MLP(x)) with "
           "alpha = 0.8: alpha only rescales the learnable MLP's output (it bounds nothing); no final ReLU",
           "the MLP's last layer starts at zero, so training starts exactly at CLIP's zero-shot scores",
           "gaopengcuhk/CLIP-Adapter: clip_adapter.py:55-67 (Adapter), 100-105 (ratio 0.2)"),
    Choice("t2ipal.f1_rule", "Which labels count as predicted for CF1 / OF1",
           "top3_nonnegative", "top3",
           "ML-GCN's rule: a label is predicted when it is among an image's 3 highest scores AND its score is "
           "at least 0; a class predicted for no image has precision 0 (TaI-DPT's evaluator reports mAP only)",
           "the image's 3 highest scores, whatever their sign",
           "cosine-based logits have no natural zero: the >= 0 condition depends on the logit offset",
           "megvii-research/ML-GCN: util.py:258-289 (overall_topk, evaluation), engine.py:338; guozix/TaI-DPT: "
           "Dassl.pytorch-master/dassl/evaluation/evaluator.py:177-246 (MLClassification: mAP only)"),
    Choice("t2ipal.voc_difficult", "VOC2007 'difficult' objects",
           "negative", "ignore",
           "TaI-DPT reads VOC's <class>_test.txt labels as they are (1 present, -1 absent, 0 difficult only) and "
           "its mAP counts only 1 as positive, so a difficult-only label is a negative; ML-GCN's CF1/OF1 also "
           "count it as a negative (its AP ignores it: difficult_examples=True)",
           "such entries are marked -1 and left out of AP, CF1 and OF1 alike",
           "a difficult-only object is neither reliably present nor absent; the VOC devkit leaves it out of AP, "
           "and leaving it out of all three metrics keeps them on the same entries",
           f"{TAI_REPO}: datasets/data_helpers.py:135-163, datasets/voc2007_distill.py:171-176, "
           "Dassl.pytorch-master/dassl/evaluation/evaluator.py:136-153; megvii-research/ML-GCN: util.py:240, "
           "259-260, 277; demo_voc2007_gcn.py:62"),
    Choice("t2ipal.test_resize", "Test image preprocessing",
           "clip", "squash",
           "resize the shorter side to 224 (bicubic), centre-crop 224 x 224, CLIP's mean and std "
           "(TRANSFORMS_TEST resize, center_crop, normalize)",
           "the whole image resized to the encoder's square input (bilinear, antialiased): nothing is cut off",
           "a centre crop cuts off objects near the border of a non-square photo, and a multi-label image has "
           "labels everywhere",
           f"{TAI_REPO}: configs/trainers/Caption_distill_double/rn50_voc2007.yaml:9-14, "
           "Dassl.pytorch-master/dassl/data/transforms/transforms.py:386-404"),
    Choice("t2ipal.global_pool", "Global image feature of a CLIP ResNet tower",
           "without_positional", "with_positional",
           "the attention pool WITHOUT its positional embedding (attnpool(x, if_pos=False)): the mean token and "
           "the 49 map tokens attend with CLIP's q/k/v/c projections, the mean token's output is the feature",
           "open_clip's attention pool as CLIP applies it, positional embedding added",
           "the global feature then is the one CLIP was trained to produce; ResNet towers only (the paper "
           "profile's RN50: the offline encoder has no attention pool, so offline runs do not differ here)",
           f"{TAI_REPO}: trainers/Caption_distill_double.py:278-306, clip/model.py:89-127"),
    Choice("t2ipal.optimiser", "Optimiser, batch and schedule of prompt training",
           "ours", "ours",
           "SGD (momentum 0.9, weight decay 5e-4), lr 1e-4 (VOC, COCO) or 1e-3 (NUS-WIDE), batch 512 with the last "
           "partial batch dropped, 20 epochs, the lr 1e-5 in epoch 0, then a per-epoch cosine (ending at 2.45e-6)",
           "under both protocols: AdamW lr 2e-3, weight decay 1e-4, batch 256, 20 epochs, a one-epoch warm-up at "
           "0.01 x lr, then a per-step cosine to 0",
           "kept: our generated training sets hold about a thousand captions, not TaI-DPT's ~10^5: with batch 512 "
           "the authors' schedule would take about 40 SGD steps at lr <= 1e-4 and leave the prompts where they "
           "start",
           f"{TAI_REPO}: configs/trainers/Caption_distill_double/rn50_*.yaml:3, 18-24; "
           "Dassl.pytorch-master/dassl/config/defaults.py:152-155", kept=True),
    Choice("t2ipal.model_selection", "Which epoch is reported",
           "last", "last",
           "the validation split IS the test split (VOC: all of it; COCO: every 10th image; NUS-WIDE: every 20th); "
           "after every epoch the best merged mAP is saved and that checkpoint is reported on the test set "
           "(TEST.FINAL_MODEL best_val)",
           "under both protocols: the last epoch",
           "kept: choosing the epoch on the test images reports the maximum over 20 test evaluations, an "
           "optimistic number that no held-out use would see",
           f"{TAI_REPO}: datasets/voc2007_distill.py:179, coco2014_distill.py:197, nuswide_distill.py:223; "
           "Dassl.pytorch-master/dassl/engine/trainer.py:413-416, 434-439", kept=True),
    Choice("t2ipal.context_draws", "Global and local contexts at random initialisation",
           "independent", "independent",
           "two independent N(0, 0.02^2) draws, global (ctx) then local (ctx_double)",
           "the same (fixed under both protocols; before Dec 2026 both were clones of one draw)",
           "adopted: the two branches should not start as one prompt",
           f"{TAI_REPO}: trainers/Caption_distill_double.py:104-105, 112-113"),
)

CHOICE_BY_KEY: dict[str, Choice] = {c.key: c for c in CHOICES}


def _check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise UnknownNameError("protocol", protocol, PROTOCOLS)
    return protocol


def default_protocol(profile: str, paper: str | None = None) -> str:
    """The protocol a profile runs when none is named (an entry may name one per paper)."""
    if profile not in DEFAULT_PROTOCOL:
        raise UnknownNameError("profile", profile, list(DEFAULT_PROTOCOL))
    entry = DEFAULT_PROTOCOL[profile]
    if isinstance(entry, dict):
        if paper not in entry:
            raise UnknownNameError(f"paper of profile {profile!r}", str(paper), list(entry))
        return entry[paper]
    return entry


def choices(paper: str | None = None) -> list[Choice]:
    if paper is not None and paper not in PAPERS:
        raise UnknownNameError("paper", paper, PAPERS)
    return [c for c in CHOICES if paper is None or c.paper == paper]


class Protocol(NamedMapping):
    """The values one protocol gives every choice of one paper: ``p["lgclip.scoring"]``, ``p.name``."""

    def __init__(self, name: str, paper: str | None = None):
        self.name = _check_protocol(name)
        self.paper = paper
        super().__init__({c.key: c.value(name) for c in choices(paper)}, "protocol choice")

    def __repr__(self) -> str:
        return f"Protocol({self.name!r}, paper={self.paper!r})"

    def active(self) -> dict[str, Any]:
        """For manifests and cache keys: the protocol's name and every choice's value."""
        return {"name": self.name, "choices": dict(self._values)}


def resolve(protocol: str | Protocol | None, paper: str, profile: str = "offline") -> Protocol:
    """A ``Protocol`` from a name, an instance, or None (the profile's default)."""
    if isinstance(protocol, Protocol):
        return protocol
    return Protocol(protocol or default_protocol(profile, paper), paper)


def table(paper: str | None = None) -> list[dict[str, str]]:
    """Rows for the book's "Differences from the authors' code" page (one per choice)."""
    return [{"paper": c.paper, "key": c.key, "choice": c.title,
             "status": c.status,
             "authors' code": c.authors_do, "protocol='clean'": c.we_do, "why": c.why, "where": c.where}
            for c in choices(paper)]
