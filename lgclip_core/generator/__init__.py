"""The generator role: text-to-image pipelines behind one ``generate(prompts, seeds)`` interface.

- ``pipeline``: our diffusers pipeline, the ``Generator`` wrapper, cached ``generate_images``, the loaders
  (the zoo's ``generator:...`` strings resolve here) and ``jpeg_roundtrip``
- ``captions``: the captions the offline generator is trained on (also read by T2I-PAL's caption writer)
- ``training``: ``lgclip train-generator``
- ``card``: the model card (JSON record + README)
- ``evaluation``: metric functions (CAS, Frechet distance, throughput); ``experiments/generator.py`` wires them
"""

from __future__ import annotations

from .pipeline import (
    GENERATOR_CARD,
    TEXT_MAX_LENGTH,
    Generator,
    TextToImagePixelPipeline,
    build_tiny_sd_pipeline,
    encode_text_condition,
    generate_images,
    jpeg_roundtrip,
    load_offline_generator,
    load_stable_diffusion,
)

__all__ = ["GENERATOR_CARD", "TEXT_MAX_LENGTH", "Generator", "TextToImagePixelPipeline", "build_tiny_sd_pipeline",
           "encode_text_condition", "generate_images", "jpeg_roundtrip", "load_offline_generator",
           "load_stable_diffusion"]
