"""BUCKET_ENDPOINT_URL, read both ways RunPod users write it, and the S3 client built from it.

RunPod documents the variable as a URL that names the bucket; S3 tools take a service
endpoint. Accepted:

    https://s3.eu-central-1.amazonaws.com                    a service endpoint, no bucket
    https://my-bucket.s3.eu-central-1.amazonaws.com          bucket in the host (AWS, B2, ...)
    https://<account>.r2.cloudflarestorage.com/my-bucket     bucket in the path (R2, B2, MinIO)
    https://my-bucket.<account>.r2.cloudflarestorage.com     R2, bucket in the host

A bucket in the host is addressed virtual-host style (as given), one in the path path-style;
either way it is the default output bucket (see outputs.choose_output). Requests may still
name other buckets on the same service. boto3 is imported only when a client is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from f5_runtime.errors import ConfigError

if TYPE_CHECKING:
    from f5_runtime.config import Settings

# Hosts that are an S3 service endpoint themselves: after the bucket label, the rest matches.
_SERVICE_HOST = re.compile(
    r"s3[.-][a-z0-9.-]+"  # AWS (s3.region.amazonaws.com, s3-region...), B2, Wasabi, Scaleway
    r"|[a-z0-9]+\.r2\.cloudflarestorage\.com"  # R2: <account>.r2.cloudflarestorage.com
    r"|[a-z0-9-]+\.digitaloceanspaces\.com"  # Spaces: <region>.digitaloceanspaces.com
    r"|localhost"  # a local S3 server addressed virtual-host style
)
_REGION = re.compile(r"^s3[.-]([a-z]{2}(?:-[a-z]+)+-\d+)\.")  # s3.eu-central-1.amazonaws.com
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's bucket naming rule


@dataclass(frozen=True)
class BucketEndpoint:
    service_url: str | None  # the S3 API endpoint boto3 talks to; None: AWS's default
    bucket: str | None  # the bucket BUCKET_ENDPOINT_URL names, if it names one
    addressing_style: str | None  # "virtual" | "path" | None (boto3's choice, on AWS)
    region: str | None  # read from an AWS-style host when BUCKET_REGION is not set


def parse_bucket_endpoint(url: str | None) -> BucketEndpoint:
    """BUCKET_ENDPOINT_URL -> where to connect and which bucket it names; ConfigError if bad."""
    if not url:
        return BucketEndpoint(None, None, None, None)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"BUCKET_ENDPOINT_URL={url!r}: must be an http(s) URL such as "
            "https://s3.us-east-1.amazonaws.com or https://my-bucket.s3.us-east-1.amazonaws.com"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            "BUCKET_ENDPOINT_URL: no query, fragment or credentials in the URL "
            "(credentials go in BUCKET_ACCESS_KEY_ID / BUCKET_SECRET_ACCESS_KEY)"
        )
    host, port = parts.hostname, f":{parts.port}" if parts.port else ""
    path = [segment for segment in parts.path.split("/") if segment]
    if len(path) > 1:
        raise ConfigError(
            f"BUCKET_ENDPOINT_URL={url!r}: name at most a bucket after the host "
            "(a key prefix goes in F5_OUTPUT_URL=s3://bucket/prefix/)"
        )
    label, _, rest = host.partition(".")
    if not path and rest and _SERVICE_HOST.fullmatch(rest) and _BUCKET.match(label):
        service, bucket, style = rest, label, "virtual"
    else:
        service, bucket, style = host, (path[0] if path else None), "path"
    if bucket is not None and not _BUCKET.match(bucket):
        raise ConfigError(f"BUCKET_ENDPOINT_URL={url!r}: {bucket!r} is not a valid bucket name")
    region = m.group(1) if (m := _REGION.match(service)) else None
    return BucketEndpoint(f"{parts.scheme}://{service}{port}", bucket, style, region)


def make_s3_client(settings: Settings) -> Any:
    """The one boto3 S3 client of a process: the endpoint above, the BUCKET_* credentials (else
    boto3's own chain), no botocore retries (the caller retries with tenacity)."""
    import boto3
    from botocore.config import Config

    endpoint = parse_bucket_endpoint(settings.bucket_endpoint_url)
    config = Config(
        connect_timeout=settings.storage_timeout,
        read_timeout=settings.storage_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        s3={"addressing_style": endpoint.addressing_style} if endpoint.addressing_style else None,
        signature_version="s3v4",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint.service_url,
        aws_access_key_id=settings.bucket_access_key_id,
        aws_secret_access_key=settings.bucket_secret_access_key,
        region_name=settings.bucket_region or endpoint.region,
        config=config,
    )
