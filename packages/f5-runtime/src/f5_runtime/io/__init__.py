"""Everything that crosses the process boundary: URLs and the SSRF guard, inputs (s3://,
https://, data:, local files for the CLI), outputs (S3 + presigned URLs, or inline), audio
decoding/encoding and subtitle files.

    urls.py guard.py      URL rules, redaction; which addresses may be fetched
    retry.py capped.py    retries of transient failures; downloads stopped at a size cap
    s3.py http.py         the two network sources (and S3 for outputs)
    inputs.py outputs.py  a job's inputs fetched; its outputs placed and published
    storage.py            the process's storage: inputs + S3, one client
    audio.py subtitles.py audio bytes <-> samples; word timings -> ASS/SRT/VTT
"""
