"""BUCKET_ENDPOINT_URL both ways: RunPod's convention (a URL that names the bucket, in the host
or in the path) and a plain service endpoint; against the moto S3 server on loopback."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from f5_runtime.api.request import parse_request
from f5_runtime.config import Settings
from f5_runtime.errors import ConfigError
from f5_runtime.io.outputs import OUTPUTS_DIR, choose_output
from f5_runtime.io.s3_endpoint import BucketEndpoint, parse_bucket_endpoint
from f5_runtime.io.storage import Storage
from fixtures.s3 import BUCKET, S3Server


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, BucketEndpoint(None, None, None, None)),
        # AWS: a regional service endpoint, and RunPod's form with the bucket in the host
        ("https://s3.eu-central-1.amazonaws.com",
         BucketEndpoint("https://s3.eu-central-1.amazonaws.com", None, "path", "eu-central-1")),
        ("https://my-bucket.s3.eu-central-1.amazonaws.com",
         BucketEndpoint("https://s3.eu-central-1.amazonaws.com", "my-bucket", "virtual",
                        "eu-central-1")),
        ("https://my-bucket.s3.amazonaws.com/",
         BucketEndpoint("https://s3.amazonaws.com", "my-bucket", "virtual", None)),
        # Cloudflare R2: the account's endpoint with the bucket in the path, or in the host
        ("https://0123abcd.r2.cloudflarestorage.com/my-bucket",
         BucketEndpoint("https://0123abcd.r2.cloudflarestorage.com", "my-bucket", "path", None)),
        ("https://my-bucket.0123abcd.r2.cloudflarestorage.com",
         BucketEndpoint("https://0123abcd.r2.cloudflarestorage.com", "my-bucket", "virtual",
                        None)),
        ("https://0123abcd.r2.cloudflarestorage.com",
         BucketEndpoint("https://0123abcd.r2.cloudflarestorage.com", None, "path", None)),
        # Backblaze B2: S3 endpoint of the bucket's region, bucket in the path or the host
        ("https://s3.us-west-004.backblazeb2.com/my-bucket",
         BucketEndpoint("https://s3.us-west-004.backblazeb2.com", "my-bucket", "path",
                        "us-west-004")),
        ("https://my-bucket.s3.us-west-004.backblazeb2.com",
         BucketEndpoint("https://s3.us-west-004.backblazeb2.com", "my-bucket", "virtual",
                        "us-west-004")),
        # MinIO or any S3 server by address
        ("http://10.0.0.5:9000", BucketEndpoint("http://10.0.0.5:9000", None, "path", None)),
        ("http://10.0.0.5:9000/media",
         BucketEndpoint("http://10.0.0.5:9000", "media", "path", None)),
    ],
)  # fmt: skip
def test_endpoint_forms(url: str | None, expected: BucketEndpoint) -> None:
    assert parse_bucket_endpoint(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("s3://my-bucket", "http(s) URL"),
        ("my-bucket.s3.amazonaws.com", "http(s) URL"),
        ("https://s3.amazonaws.com/my-bucket/jobs/", "F5_OUTPUT_URL"),
        ("https://s3.amazonaws.com/My_Bucket", "not a valid bucket name"),
        ("https://key:secret@s3.amazonaws.com", "BUCKET_ACCESS_KEY_ID"),
    ],
)
def test_a_bad_endpoint_stops_the_worker_at_start(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=r".*") as caught:
        Settings.from_env({"BUCKET_ENDPOINT_URL": url})
    assert says in str(caught.value)
    assert "secret" not in str(caught.value)


def _job_place(settings: Settings):
    """Where a job that names no output and reads no s3:// input writes."""
    request = parse_request({"text": "hi", "voice_reference_url": "data:audio/wav;base64,AA=="})
    return choose_output(settings, "job-1", request.output_bucket(), request.input_urls())


def _roundtrip(s3: S3Server, env: dict[str, str], tmp_path: Path, presigned_host: str) -> None:
    """Publish to the default place, read it back through s3:// and through the presigned
    URL: all on moto."""
    import requests

    settings = Settings.from_env(env)
    place = _job_place(settings)
    assert place is not None and place.bucket == BUCKET
    assert place.prefix == f"{OUTPUTS_DIR}job-1/"
    storage = Storage(settings)
    published = storage.publisher(place).publish("speech.wav", b"RIFF-bytes", "audio/wav")
    assert s3.keys(BUCKET) == [f"{OUTPUTS_DIR}job-1/speech.wav"]
    dest = storage.inputs.fetch(f"s3://{BUCKET}/{OUTPUTS_DIR}job-1/speech.wav", tmp_path / "back",
                         what="output")  # fmt: skip
    assert dest.read_bytes() == b"RIFF-bytes"
    assert published.s3_url == f"s3://{BUCKET}/{OUTPUTS_DIR}job-1/speech.wav"
    assert urlsplit(published.presigned_url).netloc == presigned_host
    response = requests.get(published.presigned_url, timeout=10)
    assert response.status_code == 200 and response.content == b"RIFF-bytes"


def test_bucket_in_the_path_is_the_default_output_bucket(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    env = s3.env(endpoint=f"{s3.endpoint}/{bucket}")
    _roundtrip(s3, env, tmp_path, presigned_host=urlsplit(s3.endpoint).netloc)


def test_bucket_in_the_host_is_the_default_output_bucket(
    s3: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`http://test-bucket.localhost:<port>`: boto3 addresses the bucket in the host. The name
    resolution seam maps *.localhost to 127.0.0.1 (glibc here does not) and refuses any other
    name, so the test's traffic stays on loopback."""
    real_getaddrinfo = socket.getaddrinfo
    asked: list[str] = []

    def loopback_only(host, *args, **kwargs):
        asked.append(host)
        if host == "localhost" or str(host).endswith(".localhost"):
            return real_getaddrinfo("127.0.0.1", *args, **kwargs)
        if host == "127.0.0.1":
            return real_getaddrinfo(host, *args, **kwargs)
        raise socket.gaierror(f"the test resolves only loopback names, not {host}")

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    port = s3.endpoint.rsplit(":", 1)[1]
    env = s3.env(endpoint=f"http://{bucket}.localhost:{port}")
    _roundtrip(s3, env, tmp_path, presigned_host=f"{bucket}.localhost:{port}")
    assert f"{bucket}.localhost" in asked, "the bucket was not addressed in the host"


def test_a_service_endpoint_names_no_default_bucket(s3: S3Server) -> None:
    assert _job_place(Settings.from_env(s3.env())) is None  # inline, as before
    configured = Settings.from_env({**s3.env(endpoint=f"{s3.endpoint}/{BUCKET}"),
                                    "F5_OUTPUT_URL": "s3://elsewhere/x/"})  # fmt: skip
    assert _job_place(configured).bucket == "elsewhere"  # F5_OUTPUT_URL still wins
