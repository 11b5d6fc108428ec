"""paper-shapes: the committed configs build the papers' models at their true sizes (on the meta device: no
memory, no weights), the zoo wires every role, and the cost arithmetic is what it says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lgclip_core import paper_shapes as ps
from lgclip_core import zoo
from lgclip_core.decoding import Decoded
from lgclip_core.efficiency import count_flops, paper_run_costs
from lgclip_core.errors import BadInputError

META = torch.device("meta")


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_sd21_base_true_sizes() -> None:
    """SD 2.1-base: UNet 865.9 M, VAE 83.7 M, OpenCLIP-H text encoder (23 of ViT-H's 24 layers) 340.4 M."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with META:
        unet = UNet2DConditionModel.from_config(ps.config("sd-2-1-base/unet.json"))
        vae = AutoencoderKL.from_config(ps.config("sd-2-1-base/vae.json"))
        text = CLIPTextModel(CLIPTextConfig(**ps.config("sd-2-1-base/text_encoder.json")))
    assert n_params(unet) == 865_910_724
    assert n_params(vae) == 83_653_863
    assert n_params(text) == 340_387_840
    assert text.config.hidden_size == 1024 and text.config.num_hidden_layers == 23
    assert unet.config.cross_attention_dim == text.config.hidden_size  # the UNet reads this encoder's states
    assert unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1) == 512  # 64 latent -> 512 px


def test_sd14_and_sdxl_true_sizes() -> None:
    """SD 1.4: UNet 859.5 M and CLIP ViT-L/14's text encoder 123.1 M; SDXL: UNet 2,567.5 M, the same ViT-L/14
    encoder and OpenCLIP bigG/14's with its projection (694.7 M), whose token states the UNet reads side by side
    and whose pooled projection it reads with six embedded size/crop numbers; the SD VAE shape (83.7 M) in both."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    with META:
        unet14 = UNet2DConditionModel.from_config(ps.config("sd-1-4/unet.json"))
        text14 = CLIPTextModel(CLIPTextConfig(**ps.config("sd-1-4/text_encoder.json")))
        unet_xl = UNet2DConditionModel.from_config(ps.config("sdxl-base/unet.json"))
        text_xl = CLIPTextModel(CLIPTextConfig(**ps.config("sdxl-base/text_encoder.json")))
        text_xl2 = CLIPTextModelWithProjection(CLIPTextConfig(**ps.config("sdxl-base/text_encoder_2.json")))
        vaes = [AutoencoderKL.from_config(ps.config(f"{m}/vae.json")) for m in ("sd-1-4", "sdxl-base")]
    assert n_params(unet14) == 859_520_964 and n_params(text14) == n_params(text_xl) == 123_060_480
    assert n_params(unet_xl) == 2_567_463_684 and n_params(text_xl2) == 694_659_840
    assert [n_params(v) for v in vaes] == [83_653_863, 83_653_863]
    assert unet14.config.cross_attention_dim == text14.config.hidden_size
    assert unet_xl.config.cross_attention_dim == text_xl.config.hidden_size + text_xl2.config.hidden_size == 2048
    assert unet_xl.config.projection_class_embeddings_input_dim == (text_xl2.config.projection_dim
                                                                   + 6 * unet_xl.config.addition_time_embed_dim)
    # 64 latent -> 512 px (SD 1.4), 128 -> 1024 px (SDXL)
    assert [u.config.sample_size * 8 for u in (unet14, unet_xl)] == [512, 1024]
    assert ps.config("sdxl-base/tokenizer_2.json")["pad_token"] == "!"


def test_scheduler_and_tokenizer_are_sd21s() -> None:
    from diffusers import PNDMScheduler

    from lgclip_core.tokenizers import clip_tokenizer

    sched = PNDMScheduler.from_config(ps.config("sd-2-1-base/scheduler.json"))
    assert sched.config.beta_schedule == "scaled_linear" and sched.config.skip_prk_steps
    tok = clip_tokenizer()
    assert len(tok) == ps.config("sd-2-1-base/tokenizer.json")["vocab_size"] == 49408
    assert tok.model_max_length == 77 and tok.pad_token == ps.config("sd-2-1-base/tokenizer.json")["pad_token"]


@pytest.mark.parametrize("arch,total,image", [("RN50", 102_007_137, 38_316_896),
                                              ("ViT-B-32", 151_277_313, 87_849_216),
                                              ("ViT-B-16", 149_620_737, 86_192_640),
                                              ("ViT-L-14", 427_616_513, 303_966_208)])
def test_open_clip_true_sizes(arch: str, total: int, image: int) -> None:
    from lgclip_core.encoders import create_open_clip

    with META:
        model = create_open_clip(arch, None, device="meta")
    assert (n_params(model), n_params(model.visual)) == (total, image)


def test_qwen_architecture_full_and_cut() -> None:
    """Qwen2.5-1.5B: 1.54 B parameters (1.31 B without the tied embedding); the cut keeps width and vocabulary."""
    from transformers import Qwen2ForCausalLM

    with META:
        full = Qwen2ForCausalLM(ps.qwen_config(None))
        cut = Qwen2ForCausalLM(ps.qwen_config(2))
    emb = n_params(full.model.embed_tokens)
    assert n_params(full) == 1_543_714_304 and n_params(full) - emb == 1_310_340_608
    assert full.config.tie_word_embeddings and cut.config.num_hidden_layers == 2
    per_layer = (n_params(full) - n_params(cut)) / 26
    assert n_params(cut) == pytest.approx(n_params(full) - 26 * per_layer)
    assert cut.config.hidden_size == 1536 and cut.config.vocab_size == 151_936


def test_zoo_profile_runs_the_paper_backends() -> None:
    """paper-shapes is the paper profile's backends (one loading path) on a true-size local hub, metered."""
    prof, paper = zoo.PROFILES["paper-shapes"], zoo.PROFILES["paper"]
    assert set(prof) == set(zoo.ROLES) and dict(prof) == dict(paper)
    assert prof.random_weights and prof.reports == "costs" and prof.hub_fixture == "true"
    assert prof.follows_paper and paper.follows_paper and not paper.random_weights
    assert zoo.resolve("generator", "sd-2-1-base-2-steps", "paper-shapes").kwargs["hub"] == zoo.HUB_MODELS[
        "sd-2-1-base"]


def test_meter_follows_a_deep_copy() -> None:
    """T2I-PAL's bf16 text-tower twin is a deep copy: its calls run on the copy and are metered."""
    import copy

    meter = ps.RoleMeter()

    class Tower:
        def __init__(self, k: float):
            self.k = k

        def encode(self, x: np.ndarray) -> np.ndarray:
            return x * self.k

    t = Tower(2.0)
    meter.wrap(t, "encode", "tower", lambda x: len(x))
    twin = copy.deepcopy(t)
    twin.k = 3.0
    assert (t.encode(np.ones(2)) == 2).all() and (twin.encode(np.ones(3)) == 3).all()
    assert meter.report()["roles"]["tower"]["items"] == 5


def test_count_flops_matches_hand_count() -> None:
    lin = torch.nn.Linear(64, 32, bias=False)
    assert count_flops(lambda: lin(torch.zeros(5, 64))) == 2 * 5 * 64 * 32
    with META:
        lin = torch.nn.Linear(64, 32, bias=False)
    assert count_flops(lambda: lin(torch.zeros(5, 64, device=META))) == 2 * 5 * 64 * 32


def test_paper_run_costs_arithmetic() -> None:
    plans = {"ds": {"a": 1000, "b": 10}}
    out = paper_run_costs(plans, {"a": 0.5, "b": None}, {"a": 2e12, "b": 1e9}, utilisation=0.5)
    row = out["plans"]["ds"]["roles"]["a"]
    assert row["cpu_hours"] == pytest.approx(1000 * 0.5 / 3600)
    assert row["colab-t4_hours"] == pytest.approx(1000 * 2e12 / (65e12 * 0.5) / 3600)
    assert row["a100_hours"] == pytest.approx(1000 * 2e12 / (312e12 * 0.5) / 3600)
    assert out["plans"]["ds"]["total"]["roles_without_cpu_measurement"] == ["b"]
    with pytest.raises(BadInputError, match="utilisation"):
        paper_run_costs(plans, {}, {}, utilisation=0)


def test_run_plans_count_the_authors_protocol() -> None:
    plan = ps.run_plans("lgclip")["eurosat"]  # 10 classes x 10 images, 50 steps x 2 (guidance), 8,100 test
    assert plan["sd_unet"] == 10 * 10 * 50 * 2 and plan["sd_vae_decode"] == 100
    assert plan["image_encoder"] == (8100 + 100) * 11
    assert plan["prompt_writer"] == 10 * 400  # one request per class, 10 descriptions of ~40 tokens


def test_meter_counts_items_seconds_and_load() -> None:
    meter = ps.RoleMeter()

    class Model:
        def encode(self, x: np.ndarray) -> np.ndarray:
            return x * 2

    m = Model()
    meter.wrap(m, "encode", "enc", lambda x: len(x))
    assert (m.encode(np.ones(3)) == 2).all()
    m.encode(np.ones(4))
    r = meter.report()["roles"]["enc"]
    assert r["calls"] == 2 and r["items"] == 7 and r["seconds_per_item"] > 0
    assert len(r["loadavg_per_call"]) == 2 and len(r["loadavg_per_call"][0]["loadavg"]) == 3
    assert r["rss_peak_bytes"] > 0


def test_voc_standin_reads_like_voc(tmp_path) -> None:
    """The hub fixture's VOC2007 stand-in goes through the real VOC reader (torchvision's VOCDetection)."""
    from lgclip_core.t2ipal.scenes import load_voc2007, write_voc2007_standin

    write_voc2007_standin(tmp_path, n_images=8, seed=1)
    ds = load_voc2007(tmp_path)
    assert len(ds) == 8 and ds.targets.shape == (8, 20) and (np.abs(ds.targets).sum(1) >= 1).all()
    sizes = {im.shape for im in ds.images}
    assert (375, 500, 3) in sizes and (500, 375, 3) in sizes and all(im.dtype == np.uint8 for im in ds.images)


def test_meter_counts_decoded_row_steps_from_the_result() -> None:
    meter = ps.RoleMeter()

    class Writer:
        def decode(self, groups: list[tuple[str, int, int]], max_new_tokens: int) -> Decoded:
            rows = sum(k for _, k, _ in groups)
            return Decoded([["x"] * k for _, k, _ in groups], rows * max_new_tokens)

    w = Writer()
    meter.wrap(w, "decode", "llm", ps._row_steps, from_result=True)
    assert w.decode([("a", 2, 0)], max_new_tokens=4).texts == [["x", "x"]]
    w.decode(groups=[("b", 1, 0), ("c", 2, 1)], max_new_tokens=1)
    r = meter.report()["roles"]["llm"]
    assert r["items"] == 2 * 4 + 3 and [c["items"] for c in r["loadavg_per_call"]] == [8, 3]
