"""One process's storage: the inputs it may read and the S3 client its outputs go through
(one boto3 client, shared by both)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from f5_runtime.io.inputs import Inputs
from f5_runtime.io.outputs import OutputPlace, Publisher
from f5_runtime.io.s3 import S3

if TYPE_CHECKING:
    from f5_runtime.config import Settings


class Storage:
    def __init__(self, settings: Settings, *, allow_local_files: bool = False,
                 ca_bundle: str | None = None):
        self.settings = settings
        self.s3 = S3(settings)
        self.inputs = Inputs(settings, self.s3, allow_local_files=allow_local_files,
                             ca_bundle=ca_bundle)

    def publisher(self, place: OutputPlace | None) -> Publisher:
        """A publisher for one job's outputs at `place` (None: inline)."""
        return Publisher(self.s3, place, self.settings.inline_max_bytes)
