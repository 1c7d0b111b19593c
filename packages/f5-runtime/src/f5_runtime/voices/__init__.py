"""Named voices: register a voice once, use it by name. The library (library.py) is the
entry point; stores (volume.py, s3.py) keep the voices, builtin.py offers f5-tts's own
recordings, names.py holds the one rule for names (light: the API validates with it)."""
