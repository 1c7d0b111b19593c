"""Fixtures for the engine tests: tiny checkpoints in the real formats (tests/fixtures/*)."""

from fixtures.tiny_align import (  # noqa: F401
    model_hub,
    model_hub_tree,
    punkt_nltk_dir,
    reference_clip,
    tiny_wav2vec2_dir,
    tiny_whisper_dir,
)
from fixtures.tiny_tts import (  # noqa: F401
    engines_settings,
    tiny_tts_settings,
    tiny_tts_volume,
    voice_engines,
)
