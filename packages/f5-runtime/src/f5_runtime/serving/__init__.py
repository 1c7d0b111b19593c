"""Serving: the RunPod worker (worker.py) and its local API server (serve.py), and the
commands for this machine: `job`, `synth`, `align` (local_*.py) and `bench`."""
