"""The models on the volume: the manifest (what the runtime loads, where each file lives,
pinned revisions), `fetch-models` (fetch.py) and `healthcheck` (health.py)."""
