"""f5_runtime.io (inputs, outputs, the SSRF guard) against real servers: moto S3 (+ a fault
proxy) and a loopback HTTP(S) origin."""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path

import pytest
from f5_runtime.api.request import parse_request
from f5_runtime.config import Settings
from f5_runtime.errors import ConfigError, InputError, StorageError, UserError
from f5_runtime.io.guard import address_refusal
from f5_runtime.io.outputs import OutputPlace, choose_output
from f5_runtime.io.storage import Storage
from f5_runtime.io.urls import redact

from runtime.conftest import wav_bytes
from runtime.http_origin import Origin, Reply


@pytest.fixture
def origin(tmp_path: Path):
    server = Origin(tmp_path)
    yield server
    server.close()


@pytest.fixture
def tls_origin(tmp_path: Path):
    server = Origin(tmp_path, tls=True)
    yield server
    server.close()


def make_storage(env: dict[str, str], **extra: str) -> Storage:
    return Storage(Settings.from_env({**env, **extra}))


@pytest.mark.parametrize(
    ("address", "refused_without_flag", "refused_with_flag"),
    [
        ("127.0.0.1", "loopback", None),
        ("127.8.9.10", "loopback", None),
        ("::1", "loopback", None),
        ("10.1.2.3", "private", None),
        ("172.16.0.1", "private", None),
        ("192.168.1.1", "private", None),
        ("100.64.0.1", "private", None),
        ("fd12:3456::1", "private", None),
        ("::ffff:127.0.0.1", "loopback", None),
        ("::ffff:10.0.0.1", "private", None),
        ("169.254.169.254", "metadata", "metadata"),
        ("::ffff:169.254.169.254", "metadata", "metadata"),
        ("fd00:ec2::254", "metadata", "metadata"),
        ("169.254.1.1", "link-local", "link-local"),
        ("fe80::1", "link-local", "link-local"),
        ("224.0.0.1", "multicast", "multicast"),
        ("ff02::1", "multicast", "multicast"),
        ("0.0.0.0", "unspecified", "unspecified"),
        ("240.0.0.1", "address", None),
        ("192.0.2.10", "address", None),
        ("8.8.8.8", None, None),
        ("2606:4700:4700::1111", None, None),
        # IPv6 forms that carry (and route to) an IPv4 address
        ("2002:a00:1::", "private", None),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::1", "metadata", "metadata"),  # 6to4 of 169.254.169.254
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private", None),  # Teredo, client 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:5601:5601", "metadata", "metadata"),  # client = metadata
        ("64:ff9b::a9fe:a9fe", "metadata", "metadata"),  # NAT64 of 169.254.169.254
        ("64:ff9b::6464:64c8", "metadata", "metadata"),  # NAT64 of Alibaba's 100.100.100.200
        ("64:ff9b::a00:1", "private", None),  # NAT64 of 10.0.0.1
        ("64:ff9b::7f00:1", "loopback", None),
        ("64:ff9b::808:808", None, None),  # NAT64 of 8.8.8.8: a public address
        ("::a9fe:a9fe", "metadata", "metadata"),  # IPv4-compatible (deprecated) form
        ("fec0::1", "site-local", None),  # deprecated site-local
    ],
)
def test_address_checks(address, refused_without_flag, refused_with_flag) -> None:
    for allow, expected in ((False, refused_without_flag), (True, refused_with_flag)):
        reason = address_refusal(address, allow_private=allow)
        assert (reason is None) == (expected is None), (address, allow, reason)
        if expected:
            assert expected in reason


def test_private_urls_refused_without_the_flag_and_allowed_with_it(origin, settings_env,
                                                                   tmp_path) -> None:
    url = origin.route("/voice.wav", Reply(body=wav_bytes(0.5)))
    strict = make_storage(settings_env, F5_ALLOW_HTTP="1")
    with pytest.raises(InputError, match=r"loopback address.*F5_ALLOW_PRIVATE_URLS"):
        strict.inputs.fetch(url, tmp_path / "a", what="voice reference")
    assert origin.hits.get("/voice.wav") is None, "refused before connecting"
    relaxed = make_storage(settings_env, F5_ALLOW_HTTP="1", F5_ALLOW_PRIVATE_URLS="1")
    fetched = relaxed.inputs.fetch(url, tmp_path / "b", what="voice reference")
    assert fetched.read_bytes()[:4] == b"RIFF"


@pytest.mark.parametrize("host", ["[2002:a9fe:a9fe::1]", "[64:ff9b::a9fe:a9fe]",
                                  "[2001:0:4136:e378:8000:63bf:5601:5601]"])
def test_metadata_inside_ipv6_is_refused_before_connecting(host, settings_env, tmp_path,
                                                           monkeypatch) -> None:
    """The guard runs before any connection: connecting at all fails this test."""
    import urllib3

    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was opened to a refused address")

    monkeypatch.setattr(urllib3.HTTPSConnectionPool, "urlopen", no_connection)
    storage = make_storage(settings_env, F5_ALLOW_PRIVATE_URLS="1")
    with pytest.raises(InputError, match="metadata address"):
        storage.inputs.fetch(f"https://{host}/latest/meta-data/", tmp_path / "m", what="audio")


def test_compressed_responses_are_not_inflated_past_the_cap(origin, settings_env,
                                                            tmp_path) -> None:
    """A 200 KB gzip body that inflates to 200 MiB is stored as it came (and then fails to
    decode as audio), never inflated in memory."""
    import gzip
    import tracemalloc

    bomb = gzip.compress(b"\0" * (200 * 2**20), compresslevel=9)
    url = origin.route("/bomb.wav", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    storage = make_storage(settings_env, F5_ALLOW_HTTP="1", F5_ALLOW_PRIVATE_URLS="1",
                           F5_MAX_AUDIO_MB="1")
    tracemalloc.start()
    try:
        path = storage.inputs.fetch(url, tmp_path / "bomb", what="audio")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.read_bytes() == bomb, "the body is kept as sent"
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MiB while fetching"


def test_https_pinned_connection_checks_the_certificate(tls_origin, settings_env,
                                                        tmp_path) -> None:
    url = tls_origin.route("/v.wav?X-Amz-Signature=secret", Reply(body=b"RIFF-data"))
    url = url.replace("%3F", "?")
    storage = Storage(Settings.from_env({**settings_env, "F5_ALLOW_PRIVATE_URLS": "1"}),
                      ca_bundle=str(tls_origin.ca_file))
    tls_origin.routes["/v.wav"] = tls_origin.routes.pop("/v.wav?X-Amz-Signature=secret")
    fetched = storage.inputs.fetch(url, tmp_path / "v", what="voice reference")
    assert fetched.read_bytes() == b"RIFF-data"
    untrusted = make_storage(settings_env, F5_ALLOW_PRIVATE_URLS="1")  # certifi's bundle only
    with pytest.raises(InputError, match="TLS failed"):
        untrusted.inputs.fetch(url, tmp_path / "w", what="voice reference")


def test_redirects_are_checked_at_every_hop(tls_origin, settings_env, tmp_path) -> None:
    storage = Storage(Settings.from_env({**settings_env, "F5_ALLOW_PRIVATE_URLS": "1"}),
                      ca_bundle=str(tls_origin.ca_file))
    target = tls_origin.route("/final.wav", Reply(body=b"audio"))
    hop = tls_origin.route("/hop", Reply(302, headers={"Location": "/final.wav"}))
    assert storage.inputs.fetch(hop, tmp_path / "ok", what="audio").read_bytes() == b"audio"
    assert target.endswith("/final.wav")
    meta = tls_origin.route("/meta", Reply(302, headers={
        "Location": "http://169.254.169.254/latest/meta-data/"}))
    with pytest.raises(InputError, match="refusing plain http"):
        storage.inputs.fetch(meta, tmp_path / "m", what="audio")
    relaxed = Storage(Settings.from_env({**settings_env, "F5_ALLOW_PRIVATE_URLS": "1",
                                         "F5_ALLOW_HTTP": "1"}), ca_bundle=str(tls_origin.ca_file))
    with pytest.raises(InputError, match="metadata"):
        relaxed.inputs.fetch(meta, tmp_path / "m", what="audio")
    loop = tls_origin.route("/loop", Reply(302, headers={"Location": "/loop"}))
    with pytest.raises(InputError, match="redirects"):
        storage.inputs.fetch(loop, tmp_path / "l", what="audio")


def test_size_cap_applies_while_streaming(origin, settings_env, tmp_path) -> None:
    storage = make_storage(settings_env, F5_ALLOW_HTTP="1", F5_ALLOW_PRIVATE_URLS="1",
                           F5_MAX_AUDIO_MB="1")
    endless = origin.route("/endless", Reply(endless=True))
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="larger than the 1 MiB limit"):
        storage.inputs.fetch(endless, tmp_path / "e", what="audio")
    assert time.perf_counter() - t0 < 20
    assert not (tmp_path / "e").exists(), "the partial download is removed"
    declared = origin.route("/big", Reply(body=b"\0" * (2 * 2**20)))
    with pytest.raises(InputError, match=r"\(2.0 MiB\)"):
        storage.inputs.fetch(declared, tmp_path / "d", what="audio")


def test_transient_http_errors_are_retried_client_errors_are_not(origin, settings_env,
                                                                 tmp_path) -> None:
    storage = make_storage(settings_env, F5_ALLOW_HTTP="1", F5_ALLOW_PRIVATE_URLS="1")
    flaky = origin.route("/flaky", Reply(503), Reply(500), Reply(body=b"finally"))
    assert storage.inputs.fetch(flaky, tmp_path / "f", what="audio").read_bytes() == b"finally"
    assert origin.hits["/flaky"] == 3
    missing = origin.route("/missing", Reply(404))
    with pytest.raises(InputError, match="404"):
        storage.inputs.fetch(missing, tmp_path / "m", what="audio")
    assert origin.hits["/missing"] == 1
    denied = origin.route("/denied?sig=1", Reply(403))
    origin.routes["/denied"] = origin.routes.pop("/denied?sig=1")
    with pytest.raises(InputError, match="expired") as info:
        storage.inputs.fetch(denied.replace("%3F", "?"), tmp_path / "x", what="audio")
    assert "sig=1" not in str(info.value), "no query strings in messages"
    down = origin.route("/down", Reply(503))
    with pytest.raises(StorageError, match="after 3 attempts"):
        storage.inputs.fetch(down, tmp_path / "d", what="audio")
    assert origin.hits["/down"] == 3


def test_s3_inputs_and_their_errors(s3, bucket, settings_env, faults, tmp_path) -> None:
    storage = make_storage(settings_env)
    url = s3.put(bucket, "in/voice.wav", wav_bytes(0.5))
    assert storage.inputs.fetch(url, tmp_path / "v", what="voice").read_bytes()[:4] == b"RIFF"
    with pytest.raises(InputError, match="no such object"):
        storage.inputs.fetch(f"s3://{bucket}/nope.wav", tmp_path / "n", what="voice")
    with pytest.raises(UserError, match="does not exist"):
        storage.inputs.fetch("s3://no-such-bucket/x.wav", tmp_path / "n", what="voice")
    s3.put(bucket, "big.wav", b"\0" * (2 * 2**20))
    with pytest.raises(InputError, match="larger than"):
        make_storage(settings_env, F5_MAX_AUDIO_MB="1").inputs.fetch(
            f"s3://{bucket}/big.wav", tmp_path / "b", what="voice")
    faults.deny_buckets.add(bucket)
    via_proxy = make_storage(settings_env, BUCKET_ENDPOINT_URL=faults.endpoint)
    with pytest.raises(UserError, match="access denied"):
        via_proxy.inputs.fetch(url, tmp_path / "d", what="voice")
    assert len(faults.requests) == 1, "a 403 is not retried"


def test_s3_keys_are_literal(s3, bucket, settings_env, tmp_path) -> None:
    url = s3.put(bucket, "takes/50% louder?#1.wav", b"RIFF-odd-key")
    assert url == f"s3://{bucket}/takes/50% louder?#1.wav"
    fetched = make_storage(settings_env).inputs.fetch(url, tmp_path / "k", what="voice")
    assert fetched.read_bytes() == b"RIFF-odd-key"


def test_data_uris(settings_env, tmp_path) -> None:
    storage = make_storage(settings_env, F5_MAX_AUDIO_MB="1")
    good = "data:audio/wav;base64," + base64.b64encode(b"RIFFxxxx").decode()
    assert storage.inputs.fetch(good, tmp_path / "g", what="audio").read_bytes() == b"RIFFxxxx"
    with pytest.raises(InputError, match="not valid base64"):
        storage.inputs.fetch("data:audio/wav;base64,@@@@", tmp_path / "b", what="audio")
    huge = "data:audio/wav;base64," + "A" * (2 * 2**20)
    with pytest.raises(InputError, match="larger than"):
        storage.inputs.fetch(huge, tmp_path / "h", what="audio")
    with pytest.raises(InputError, match="unsupported"):
        storage.inputs.fetch("/etc/passwd", tmp_path / "p", what="audio")


def test_output_placement_order(settings_env) -> None:
    env = dict(settings_env)
    seed_example = {"audio_url": "s3://in-bucket/input.wav",
                    "voice_reference_url": "s3://in-bucket/reference.wav", "text": "Hi"}

    def place(request, settings, job_id):
        return choose_output(settings, job_id, request.output_bucket(), request.input_urls())

    request = parse_request(seed_example)
    assert place(request, Settings.from_env(env), "j1") == OutputPlace(
        "in-bucket", "f5-tts-outputs/j1/")
    configured = Settings.from_env({**env, "F5_OUTPUT_URL": "s3://out/base"})
    assert place(request, configured, "j1") == OutputPlace("out", "base/j1/")
    explicit = parse_request({**seed_example, "output": {"bucket": "mine", "prefix": "jobs"}})
    assert place(explicit, configured, "j/1") == OutputPlace("mine", "jobs/j_1/")
    inline = parse_request({"text": "Hi", "voice_reference_url": "data:audio/wav;base64,AA=="})
    assert place(inline, Settings.from_env(env), "j1") is None
    with pytest.raises(ConfigError, match="F5_OUTPUT_URL"):
        place(request, Settings.from_env({**env, "F5_OUTPUT_URL": "https://x/"}), "j")


def test_publisher_rolls_back_uploads(s3, bucket, settings_env, faults) -> None:
    storage = make_storage(settings_env, BUCKET_ENDPOINT_URL=faults.endpoint)
    place = OutputPlace(bucket, "jobs/j1/")
    publisher = storage.publisher(place)
    published = publisher.publish("speech.wav", b"RIFF", "audio/wav")
    assert published.s3_url == f"s3://{bucket}/jobs/j1/speech.wav"
    head = s3.client.head_object(Bucket=bucket, Key="jobs/j1/speech.wav")
    assert head["ContentType"] == "audio/wav"
    faults.fail_put_suffixes.add(".ass")
    with pytest.raises(StorageError, match=r"could not write .*speech.ass after 3 attempts"):
        publisher.publish("speech.ass", b"x", "text/x-ssa")
    assert sum(1 for m, p in faults.requests if m == "PUT" and p.endswith(".ass")) == 3
    publisher.rollback()
    assert s3.keys(bucket) == []


def test_a_put_that_landed_but_timed_out_is_rolled_back(s3, bucket, settings_env,
                                                        faults) -> None:
    storage = make_storage(settings_env, BUCKET_ENDPOINT_URL=faults.endpoint,
                           F5_STORAGE_TIMEOUT="1", F5_STORAGE_ATTEMPTS="1")
    faults.hang_put_suffixes.add(".wav")
    faults.hang_seconds = 3.0
    publisher = storage.publisher(OutputPlace(bucket, "jobs/j2/"))
    with pytest.raises(StorageError, match=r"could not write .*speech.wav"):
        publisher.publish("speech.wav", b"RIFF", "audio/wav")
    assert s3.keys(bucket) == ["jobs/j2/speech.wav"], "the PUT landed"
    publisher.rollback()
    assert s3.keys(bucket) == [], "nothing half-written is left"


def test_inline_outputs_without_a_bucket(settings_env) -> None:
    storage = make_storage(settings_env, F5_INLINE_MAX_MB="0.001")
    publisher = storage.publisher(None)
    small = publisher.publish("speech.wav", b"RIFF", "audio/wav")
    assert base64.b64decode(small.inline) == b"RIFF"
    assert publisher.publish("s.ass", "é".encode("utf-8-sig"), "text/x-ssa",
                             text=True).inline == "é"
    with pytest.raises(UserError, match="configure a bucket"):
        publisher.publish("speech.wav", b"\0" * 5000, "audio/wav")


def test_logs_and_messages_carry_no_secrets(s3, bucket, settings_env, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="f5_runtime")
    storage = make_storage(settings_env)
    s3.put(bucket, "v.wav", b"RIFF")
    storage.inputs.fetch(f"s3://{bucket}/v.wav", tmp_path / "v", what="voice")
    place = OutputPlace(bucket, "j/")
    presigned = storage.publisher(place).publish("speech.wav", b"RIFF", "audio/wav").presigned_url
    assert "X-Amz-Signature=" in presigned
    text = caplog.text
    assert "X-Amz-Signature" not in text and settings_env["BUCKET_SECRET_ACCESS_KEY"] not in text
    assert redact(presigned).endswith("/j/speech.wav?<redacted>")
    assert "user:pw" not in redact("https://user:pw@host/x?a=b")
