"""Stand-in for wandb, which f5-tts's trainer imports at import time (`import f5_tts.model`)
and inference never uses: the GPU check carries this instead of ~56 MB of wandb. Only on
the path when the machine has no wandb of its own (benchmarks/gpu_check.py)."""
