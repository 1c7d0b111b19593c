"""Stand-in for Hugging Face datasets, which f5-tts's training data module imports at import
time (`import f5_tts.model`) and inference never uses; the real one also needs pyarrow. Only
on the path when the machine has no datasets of its own (benchmarks/gpu_check.py)."""


class Dataset:
    """Named in f5-tts's dataset classes' signatures only."""


def load_from_disk(*args, **kwargs):
    raise NotImplementedError("the GPU check's stand-in for datasets cannot load data")
