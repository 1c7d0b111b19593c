"""The page at `/`, in a real headless chromium, against the real server on dummy engines.

What a person does: give the key the server asks for, type, press play, hear it (the Web
Audio pipeline gets the PCM), watch every word light up in order at its time, download the
audio and the subtitles, add a voice from a recording and speak with it, read an API error.
`window.f5Stats` is the page's own record of what reached the audio pipeline and the screen.

`F5_PAGE_SCREENSHOT=docs/page.png` also saves a screenshot of the page mid-playback there.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
import soundfile as sf
from selenium.webdriver.support.select import Select

from web.conftest import API_KEY

pytestmark = pytest.mark.slow

TEXT = "Every word lights up while it is spoken. Then a second sentence follows."
SAMPLE_RATE = 24_000  # Hz, the page's PCM stream


def words_of(text: str) -> list[str]:
    return [w for w in (re.sub(r"[^\w']", "", t.lower()) for t in text.split()) if w]


def wait_for(browser, script: str, timeout: float = 60, what: str = ""):
    """Polls a JavaScript expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.1)
    stats = browser.execute_script("return window.f5Stats")
    raise AssertionError(f"timed out waiting for {what or script}; f5Stats = {stats}")


def submit_key(browser, key: str) -> None:
    field = browser.find_element("id", "api-key")
    field.clear()
    field.send_keys(key)
    browser.find_element("css selector", "#key-form button[value=ok]").click()


def open_page(browser, server) -> None:
    """Loads the page; gives the key if the page asks for it; waits for the voice list."""
    browser.get(f"{server.url}/")
    deadline = time.monotonic() + 30
    while not browser.execute_script("return window.f5Stats && window.f5Stats.ready"):
        if browser.execute_script("return document.getElementById('key-dialog').open"):
            submit_key(browser, API_KEY)
        assert time.monotonic() < deadline, "the page did not load its voices"
        time.sleep(0.1)
    assert browser.execute_script("return window.f5Stats.errors") == []


def play(browser, text: str, screenshot: str | None = None) -> dict:
    box = browser.find_element("id", "text")
    box.clear()
    box.send_keys(text)
    browser.find_element("id", "play").click()
    if screenshot:
        # Mid-playback: some words spoken, some still to come.
        wait_for(browser, "window.f5Stats.wordsHighlighted.length >= 6", what="6 words")
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(screenshot)
    wait_for(browser, "['done', 'error'].includes(window.f5Stats.state)", 120, "the end")
    return browser.execute_script("return window.f5Stats")


def downloaded(folder: Path, name: str, timeout: float = 60) -> bytes:
    path = folder / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and not list(folder.glob("*.crdownload")):
            return path.read_bytes()
        time.sleep(0.1)
    raise AssertionError(f"{name} was not downloaded: {sorted(os.listdir(folder))}")


def download_audio(browser, folder: Path, fmt: str) -> bytes:
    Select(browser.find_element("id", "audio-format")).select_by_value(fmt)
    browser.find_element("id", "download-audio").click()
    return downloaded(folder, f"speech.{fmt}")


def test_asks_for_a_key_and_keeps_it_in_the_session(browser, web_server):
    browser.get(f"{web_server.url}/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    wait_for(browser, "document.getElementById('key-dialog').open", 30, "the key dialog")
    submit_key(browser, "not-the-key")
    wait_for(browser, "window.f5Stats.keyAsked >= 2 && document.getElementById('key-dialog').open",
             30, "the key asked again")
    # The reason shown is the server's own 401 message.
    refused = web_server.get("/v1/audio/voices", key="not-the-key")
    assert refused.status_code == 401
    assert browser.find_element("id", "key-reason").text == refused.json()["error"]["message"]
    submit_key(browser, API_KEY)
    wait_for(browser, "window.f5Stats.ready", 30, "the voices")
    assert browser.find_elements("css selector", "#voice option")
    assert browser.execute_script("return sessionStorage.getItem('f5-api-key')") == API_KEY
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.get_cookies() == []


def test_plays_the_stream_and_highlights_every_word_in_order(browser, web_server):
    open_page(browser, web_server)
    stats = play(browser, TEXT, os.environ.get("F5_PAGE_SCREENSHOT"))
    assert stats["state"] == "done", stats["errors"]
    assert stats["errors"] == []
    # Audio reached Web Audio: some chunks, a plausible length of PCM.
    assert stats["chunksPlayed"] >= 1
    assert stats["samplesQueued"] > 0.5 * SAMPLE_RATE
    # Every word of the text, highlighted once, in order, never before its time.
    highlighted = stats["wordsHighlighted"]
    assert words_of(" ".join(w["word"] for w in highlighted)) == words_of(TEXT)
    starts = [w["start"] for w in highlighted]
    assert starts == sorted(starts)
    for word in highlighted:
        assert word["at"] >= word["start"] - 0.05, word
    # Time to first audio is measured and shown; spoken words are marked on the page.
    assert stats["firstAudioMs"] > 0
    assert browser.find_element("id", "ttfa").text.endswith(" s")
    spoken = browser.find_elements("css selector", "#words .word.spoken")
    assert len(spoken) == len(highlighted)


def test_downloads_the_audio_and_the_subtitles(browser, web_server, downloads):
    open_page(browser, web_server)
    stats = play(browser, TEXT)
    assert stats["state"] == "done", stats["errors"]

    wav = download_audio(browser, downloads, "wav")
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE", wav[:16]
    assert sf.read(io.BytesIO(wav))[0].size > 0
    mp3 = download_audio(browser, downloads, "mp3")
    assert mp3[:3] == b"ID3" or mp3[:2] in (b"\xff\xfb", b"\xff\xf3"), mp3[:16]
    # Raw PCM with the same seed: exactly the samples that were played.
    pcm = download_audio(browser, downloads, "pcm")
    assert len(pcm) // 2 == stats["samplesQueued"]

    for fmt, marker in (("ass", "[Script Info]"), ("srt", "-->"), ("vtt", "WEBVTT")):
        Select(browser.find_element("id", "subtitle-format")).select_by_value(fmt)
        browser.find_element("id", "download-subtitles").click()
        text = downloaded(downloads, f"speech.{fmt}").decode()
        assert marker in text, text[:200]
        assert "lights" in text.lower()
    assert browser.execute_script("return window.f5Stats.errors") == []
    # The job's stage timings are shown (generate, align, ...).
    stages = browser.find_elements("css selector", "#timings tbody th")
    assert {"generate", "align"} <= {th.text for th in stages}


def test_adds_a_voice_speaks_with_it_and_deletes_it(browser, web_server, reference_wav):
    open_page(browser, web_server)
    browser.find_element("css selector", "#add-voice summary").click()
    browser.find_element("id", "voice-name").send_keys("page-test-voice")
    browser.find_element("id", "voice-file").send_keys(str(reference_wav))
    browser.find_element("id", "voice-text").send_keys(
        "Some call me nature, others call me mother nature.")
    browser.find_element("id", "upload-voice").click()
    wait_for(browser, "document.getElementById('voice').value === 'page-test-voice'", 60,
             "the new voice selected")
    assert browser.execute_script("return window.f5Stats.errors") == []
    assert "page-test-voice" in web_server.get("/v1/audio/voices").text

    stats = play(browser, "A new voice says hello.")
    assert stats["state"] == "done", stats["errors"]
    assert stats["samplesQueued"] > 0
    assert words_of(" ".join(w["word"] for w in stats["wordsHighlighted"])) == words_of(
        "A new voice says hello.")

    browser.find_element("id", "delete-voice").click()
    wait_for(browser, "![...document.getElementById('voice').options]"
             ".some(o => o.value === 'page-test-voice')", 30, "the voice gone")
    assert "page-test-voice" not in web_server.get("/v1/audio/voices").text


def test_shows_api_errors_as_the_api_words_them(browser, web_server):
    open_page(browser, web_server)
    steps = browser.find_element("id", "steps")
    steps.clear()
    steps.send_keys("100")  # more than the API allows; the page leaves the judging to it
    try:
        stats = play(browser, "Hello there.")
    finally:
        steps.clear()
        steps.send_keys("16")
    assert stats["state"] == "error"
    voice = browser.execute_script("return document.getElementById('voice').value")
    refused = web_server.post("/v1/audio/speech", json={
        "model": "f5-tts", "input": "Hello there.", "voice": voice, "response_format": "pcm",
        "stream_format": "sse", "speed": 1, "nfe_steps": 100, "seed": 1})
    assert refused.status_code >= 400
    assert browser.find_element("id", "error").text == refused.json()["error"]["message"]
