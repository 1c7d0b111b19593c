"""Every model with random weights, built in memory (F5_LOAD_FORMAT=dummy), in one place.

vLLM's `--load-format dummy` is the precedent: no file is read, every stage of the plumbing
is real. The F5-TTS model and Vocos are f5-tts's and vocos's own modules (the real sizes, or
the tiny architecture with F5_TTS_MODEL=tiny: f5.py); the aligner is a tiny wav2vec2 CTC
model and the ASR a tiny Whisper converted by CTranslate2's own converter, so whisperx's
`align` and faster-whisper's loading and decoding run exactly as with the real models.
The outputs are meaningless: the audio is noise, word times are wherever a random CTC model
puts them, transcripts are random pseudo-words. Test fixtures write the same models to disk
in the real formats (safetensors, `save_pretrained`, CTranslate2).
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import Any

from f5_runtime.engines.align_models import ASR_COMPUTE_TYPE, ModelSource, use_nltk_data
from f5_runtime.engines.f5 import build_cfm, build_vocos, vocos_config, vocos_size

# ---------------------------------------------------------------------------- F5-TTS, Vocos


def randomize_zero_init(model: Any, seed: int = 0) -> None:
    """Random values for the layers f5-tts initialises to zero (output projection, adaptive
    norms): with them at zero a random model outputs a constant."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if any(k in name for k in ("proj_out", "norm_out.linear", "attn_norm.linear")):
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)


def build_dummy_cfm(name: str, attn_backend: str = "torch", seed: int = 0):
    """The CFM model a checkpoint of `name` loads into, with random weights (no checkpoint)."""
    import torch

    from f5_runtime.models.manifest import packaged_f5_vocab

    torch.manual_seed(seed)
    model = build_cfm(name, attn_backend, str(packaged_f5_vocab()))
    randomize_zero_init(model, seed)
    return model.eval()


def build_dummy_vocoder(tts_model: str):
    """Vocos of the size that goes with `tts_model`, as initialised (random)."""
    return build_vocos(vocos_config(**vocos_size(tts_model)))


# ---------------------------------------------------------------------------- aligner, Whisper


# wav2vec2 CTC character vocabulary, as the English wav2vec2 models have it
CTC_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *string.ascii_uppercase, "'"]
TEXT_TOKENS = 50257  # Whisper's text vocabulary; ids after it are special tokens
TIMESTAMP_TOKENS = 1501  # <|0.00|> ... <|30.00|>
SEED = 0


def tiny_wav2vec2():
    """A random `Wav2Vec2ForCTC` (about 60k parameters) and its vocabulary (token -> id)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    config = Wav2Vec2Config(
        vocab_size=len(CTC_VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        pad_token_id=0,
    )
    torch.manual_seed(SEED)
    model = Wav2Vec2ForCTC(config).eval()
    return model, {token: i for i, token in enumerate(CTC_VOCAB)}


def _whisper_tokenizer():
    """A Whisper-shaped tokenizer: byte-level BPE with Whisper's special tokens at Whisper's
    ids. The text tokens past the byte alphabet are pseudo-words (" baaa", " caaa", ...), so that
    a random model decodes to word-like text."""
    import tokenizers
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from tokenizers import decoders, models, pre_tokenizers
    from transformers import WhisperTokenizerFast

    vocab = {char: i for i, char in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    # CTranslate2 calls a Whisper multilingual when its vocabulary has an empty token, as
    # the real multilingual vocabulary does
    vocab[""] = len(vocab)
    letters = string.ascii_lowercase
    for i in range(len(vocab), TEXT_TOKENS):
        vocab["Ġ" + "".join(letters[i // 26**k % 26] for k in range(4))] = i
    backend = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    eot = "<|endoftext|>"
    tokenizer = WhisperTokenizerFast(
        tokenizer_object=backend, unk_token=eot, bos_token=eot, eos_token=eot, pad_token=eot
    )
    languages = [f"<|{code}|>" for code in _LANGUAGE_CODES]
    specials = ["<|startoftranscript|>", *languages, "<|translate|>", "<|transcribe|>"]
    specials += ["<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    return tokenizer, languages


def write_tiny_whisper(output_dir: Path) -> Path:
    """A tiny random multilingual Whisper, converted by CTranslate2's own converter into
    `output_dir` (model.bin, config.json, vocabulary.json, tokenizer.json,
    preprocessor_config.json): what faster-whisper loads."""
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    tokenizer, languages = _whisper_tokenizer()
    eot = tokenizer.eos_token_id
    config = WhisperConfig(
        vocab_size=len(tokenizer) + TIMESTAMP_TOKENS,
        num_mel_bins=80,
        d_model=32,
        encoder_layers=1,
        encoder_attention_heads=2,
        decoder_layers=1,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        decoder_start_token_id=tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
        eos_token_id=eot,
        bos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=[],
        begin_suppress_tokens=[eot],
    )
    torch.manual_seed(SEED)
    model = WhisperForConditionalGeneration(config)
    generation = GenerationConfig.from_model_config(config)
    generation.lang_to_id = {token: tokenizer.convert_tokens_to_ids(token) for token in languages}
    generation.alignment_heads = [[0, 0], [0, 1]]
    model.generation_config = generation
    with tempfile.TemporaryDirectory(prefix="f5-tiny-whisper-") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(tmp)
        converter = TransformersConverter(
            tmp, copy_files=["tokenizer.json", "preprocessor_config.json"]
        )
        converter.convert(str(output_dir), force=True)
    return Path(output_dir)


def tiny_whisper_files() -> dict[str, bytes]:
    """The tiny Whisper's files in memory, for `faster_whisper.WhisperModel(files=...)`."""
    with tempfile.TemporaryDirectory(prefix="f5-tiny-whisper-ct2-") as tmp:
        out = write_tiny_whisper(Path(tmp) / "model")
        return {path.name: path.read_bytes() for path in out.iterdir()}


class DummyModels(ModelSource):
    """The aligner's and the ASR's models, tiny and random, in memory: nothing is read from
    the volume."""

    def __init__(self):
        _empty_punkt_files()

    def align_model(self, language: str, device: str) -> tuple[Any, dict]:
        model, vocab = tiny_wav2vec2()
        dictionary = {token.lower(): i for token, i in vocab.items()}
        return model.to(device), {
            "language": language,
            "dictionary": dictionary,
            "type": "huggingface",
        }

    def asr_model(self, device: str) -> Any:
        import whisperx
        from whisperx.asr import WhisperModel

        whisper = WhisperModel(
            "dummy-tiny-whisper",
            device=device,
            compute_type=ASR_COMPUTE_TYPE.get(device, "float32"),
            files=tiny_whisper_files(),
        )
        return whisperx.load_model(
            "dummy-tiny-whisper",
            device,
            model=whisper,
            compute_type=ASR_COMPUTE_TYPE.get(device, "float32"),
            vad_method="pyannote",
        )


_PUNKT_TMP: tempfile.TemporaryDirectory | None = None


def _empty_punkt_files() -> None:
    """Empty punkt_tab parameter files (no abbreviations known) for every language whisperx
    asks for, in a temp dir, so that whisperx never tries to download."""
    global _PUNKT_TMP
    if _PUNKT_TMP is None:
        from whisperx.utils import PUNKT_LANGUAGES

        from f5_runtime.models.manifest import PUNKT_FILES

        _PUNKT_TMP = tempfile.TemporaryDirectory(prefix="f5-dummy-nltk-")
        for language in {"english", *PUNKT_LANGUAGES.values()}:
            directory = Path(_PUNKT_TMP.name) / "tokenizers" / "punkt_tab" / language
            directory.mkdir(parents=True)
            for name in PUNKT_FILES:
                (directory / name).touch()
    use_nltk_data(Path(_PUNKT_TMP.name))
