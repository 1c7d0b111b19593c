"""The RunPod Hub asks every listing for a handler.py. This image's worker is not started from
here: its ENTRYPOINT `f5-bootstrap` with CMD `run` execs `python -m f5_runtime worker` from the
env built into the image (the handler: `f5_runtime.serving.worker`). Running this file does the
same, so `python .runpod/handler.py --test_input '{...}'` behaves like the image."""

import os
import sys

if __name__ == "__main__":
    os.execvp("f5-bootstrap", ["f5-bootstrap", "run", "--", *sys.argv[1:]])
