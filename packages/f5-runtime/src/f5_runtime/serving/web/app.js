// The try-it page: streams /v1/audio/speech as SSE (raw 24 kHz s16le PCM deltas plus word
// timings), plays the deltas through Web Audio as they arrive and highlights each word when
// the playhead reaches it. Plain browser JavaScript, no build step, nothing fetched from
// anywhere but this server.
"use strict";

const SAMPLE_RATE = 24000; // Hz, what response_format "pcm" carries
const KEY_STORE = "f5-api-key"; // sessionStorage only: gone when the tab closes
const EXT = { wav: "wav", mp3: "mp3", flac: "flac", opus: "opus", aac: "aac", pcm: "pcm" };

// Counters for tests and the curious: what reached the audio pipeline and what was shown.
const stats = (window.f5Stats = {
  state: "idle", chunksPlayed: 0, samplesQueued: 0, firstAudioMs: null,
  words: [], wordsHighlighted: [], downloads: [], errors: [], keyAsked: 0,
});

const $ = (id) => document.getElementById(id);

// ---- talking to the server -------------------------------------------------------------

class ApiError extends Error {}

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// The API's own wording of an error: OpenAI's {"error": {"message"}}, or RunPod's {"error"}.
async function errorText(response) {
  const body = await response.text();
  try {
    const parsed = JSON.parse(body);
    const err = parsed.error ?? parsed.detail ?? parsed;
    if (typeof err === "string") return err;
    if (err && typeof err.message === "string") return err.message;
  } catch { /* not JSON: show it as sent */ }
  return body.trim() || `${response.status} ${response.statusText}`;
}

// fetch() with the key; a 401 asks for a key and tries again.
async function api(path, init = {}) {
  for (;;) {
    const response = await fetch(path, {
      ...init, headers: { ...(init.headers || {}), ...authHeaders() },
    });
    if (response.status !== 401) {
      if (!response.ok) throw new ApiError(await errorText(response));
      return response;
    }
    const reason = await errorText(response);
    if (!(await askKey(reason))) throw new ApiError(reason);
  }
}

function askKey(reason) {
  const dialog = $("key-dialog");
  $("key-reason").textContent = reason;
  $("api-key").value = "";
  stats.keyAsked += 1;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const key = $("api-key").value.trim();
      if (dialog.returnValue === "ok" && key) {
        sessionStorage.setItem(KEY_STORE, key);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    dialog.showModal();
  });
}

// Server-sent events from a fetch() body: yields {event, data} with data parsed as JSON.
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let match;
    while ((match = /\r?\n\r?\n/.exec(buffer))) {
      const block = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      let event = null;
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length || data.join("") === "[DONE]") continue;
      const parsed = JSON.parse(data.join("\n"));
      yield { event: event || parsed.type, data: parsed };
    }
  }
}

// ---- audio: PCM deltas scheduled back to back on one AudioContext -----------------------

class PcmPlayer {
  constructor() {
    this.ctx = new AudioContext();
    this.segments = []; // {at: context time, from: output time, dur}, in seconds
    this.nextAt = 0;
    this.queued = 0; // samples
    this.oddByte = null; // a delta may end in the middle of a 16-bit sample
  }

  push(bytes) {
    if (this.oddByte !== null) {
      const joined = new Uint8Array(bytes.length + 1);
      joined[0] = this.oddByte;
      joined.set(bytes, 1);
      bytes = joined;
      this.oddByte = null;
    }
    if (bytes.length % 2) {
      this.oddByte = bytes[bytes.length - 1];
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    const count = bytes.length / 2;
    if (!count) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const buffer = this.ctx.createBuffer(1, count, SAMPLE_RATE);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < count; i++) channel[i] = view.getInt16(2 * i, true) / 32768;
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.ctx.destination);
    // Late chunks start a little ahead of now; on time ones start where the last one ends.
    const at = Math.max(this.nextAt, this.ctx.currentTime + 0.05);
    source.start(at);
    this.segments.push({ at, from: this.queued / SAMPLE_RATE, dur: buffer.duration });
    this.nextAt = at + buffer.duration;
    this.queued += count;
    stats.chunksPlayed += 1;
    stats.samplesQueued = this.queued;
  }

  // Where on the output timeline the listener is now (seconds), or -1 before the first sample.
  position() {
    const now = this.ctx.currentTime;
    let pos = -1;
    for (const seg of this.segments) {
      if (seg.at > now) break;
      pos = seg.from + Math.min(now - seg.at, seg.dur);
    }
    return pos;
  }

  get queuedSeconds() { return this.queued / SAMPLE_RATE; }

  close() { this.ctx.close().catch(() => {}); }
}

function base64Bytes(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

// ---- words --------------------------------------------------------------------------------

class WordTrack {
  constructor(container) {
    this.container = container;
    this.words = []; // {word, start, end, el}
    this.next = 0; // first word not yet highlighted
    this.container.replaceChildren();
  }

  add(words) {
    for (const w of words) {
      const el = document.createElement("span");
      el.className = "word";
      el.textContent = w.word;
      if (this.words.length) this.container.append(" ");
      this.container.append(el);
      this.words.push({ word: w.word, start: Number(w.start), end: Number(w.end), el });
      stats.words.push(w.word);
    }
  }

  // Highlights every word whose start the playhead has passed, in order; `finished` means
  // the audio has ended, so any word timed past its end is reached too.
  update(pos, finished) {
    while (this.next < this.words.length) {
      const w = this.words[this.next];
      if (!finished && !(pos >= w.start)) break;
      w.el.classList.add("spoken");
      stats.wordsHighlighted.push({ word: w.word, start: w.start, at: pos });
      this.next += 1;
    }
    for (const w of this.words) {
      w.el.classList.toggle("current", !finished && pos >= w.start && pos < w.end);
    }
  }
}

// ---- the page -----------------------------------------------------------------------------

let current = null; // {abort, player, timer}
let lastRequest = null; // what the last play asked for, for the downloads

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  if (message) stats.errors.push(message);
}

function setState(state, text) {
  stats.state = state;
  $("state").textContent = text;
  $("play").disabled = state === "playing";
  $("stop").disabled = state !== "playing";
}

function requestFromForm() {
  const seedText = $("seed").value.trim();
  // An unset seed is drawn here, so the downloads repeat exactly what was heard.
  const seed = seedText === "" ? Math.floor(Math.random() * 2 ** 31) : Number(seedText);
  return {
    text: $("text").value.trim(),
    voice: $("voice").value,
    speed: Number($("speed").value),
    steps: Number($("steps").value),
    seed,
  };
}

function speechBody(req, format, stream) {
  const body = {
    model: "f5-tts", input: req.text, voice: req.voice, response_format: format,
    speed: req.speed, nfe_steps: req.steps, seed: req.seed,
  };
  if (stream) body.stream_format = "sse";
  return body;
}

function showTimings(timings) {
  const table = $("timings");
  const rows = Object.entries(timings || {}).filter(([, v]) => typeof v === "number");
  table.tBodies[0].replaceChildren(...rows.map(([stage, seconds]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = stage;
    const td = document.createElement("td");
    td.textContent = seconds.toFixed(3);
    tr.append(th, td);
    return tr;
  }));
  table.hidden = !rows.length;
}

function stop() {
  if (!current) return;
  current.abort.abort();
  clearInterval(current.timer);
  current.player.close();
  current = null;
}

async function play(event) {
  event.preventDefault();
  const req = requestFromForm();
  if (!req.text) { showError("Type some text first."); return; }
  stop();
  showError("");
  Object.assign(stats, {
    chunksPlayed: 0, samplesQueued: 0, firstAudioMs: null, words: [], wordsHighlighted: [],
  });
  lastRequest = req;
  $("seed-used").textContent = String(req.seed);
  $("ttfa").textContent = "…";
  $("duration").textContent = "–";
  showTimings(null);

  // Created inside the click, so the browser lets it play.
  const player = new PcmPlayer();
  const words = new WordTrack($("words"));
  const abort = new AbortController();
  let streamDone = false;
  const tick = () => {
    const pos = player.position();
    const finished = streamDone && pos >= player.queuedSeconds - 1e-3;
    words.update(pos, finished);
    if (finished && current && current.player === player) {
      clearInterval(current.timer);
      current.player.close();
      current = null;
      setState("done", "Done.");
    }
  };
  current = { abort, player, timer: setInterval(tick, 30) };
  setState("playing", "Generating…");
  const started = performance.now();
  try {
    const response = await api("/v1/audio/speech", {
      method: "POST", signal: abort.signal,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(speechBody(req, "pcm", true)),
    });
    for await (const { event: type, data } of sseEvents(response)) {
      if (type === "speech.audio.delta") {
        if (stats.firstAudioMs === null) {
          stats.firstAudioMs = performance.now() - started;
          $("ttfa").textContent = `${(stats.firstAudioMs / 1000).toFixed(2)} s`;
          setState("playing", "Playing…");
        }
        player.push(base64Bytes(data.audio));
      } else if (type === "speech.audio.words") {
        words.add(data.words || []);
      } else if (type === "speech.audio.done") {
        showTimings(data.timings);
      } else if (type === "error" || data.error) {
        throw new ApiError(data.error?.message ?? data.message ?? JSON.stringify(data));
      }
    }
    streamDone = true;
    $("duration").textContent = `${player.queuedSeconds.toFixed(2)} s`;
  } catch (err) {
    if (err.name === "AbortError") return;
    stop();
    setState("error", "");
    showError(err instanceof ApiError ? err.message : `The request failed: ${err.message}`);
  }
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  stats.downloads.push({ name, bytes: blob.size, type: blob.type });
}

async function withButton(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Working…";
  showError("");
  try {
    await work();
  } catch (err) {
    showError(err instanceof ApiError ? err.message : `The request failed: ${err.message}`);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function downloadRequest() {
  return lastRequest || requestFromForm();
}

async function downloadAudio() {
  const req = downloadRequest();
  const format = $("audio-format").value;
  const response = await api("/v1/audio/speech", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(speechBody(req, format, false)),
  });
  saveBlob(await response.blob(), `speech.${EXT[format]}`);
}

// Subtitles come from the native job API, answered inline when no bucket is configured.
async function downloadSubtitles() {
  const req = downloadRequest();
  const format = $("subtitle-format").value;
  const response = await api("/runsync", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      input: {
        text: req.text, voice: req.voice,
        options: {
          nfe_steps: req.steps, seed: req.seed, speed: req.speed,
          create_subtitles: true, subtitle_format: format,
        },
      },
    }),
  });
  const job = await response.json();
  if (job.error) throw new ApiError(typeof job.error === "string" ? job.error : JSON.stringify(job.error));
  const out = job.output || {};
  if (out.error) throw new ApiError(out.error);
  if (out.timings) showTimings(out.timings); // the job's own stages, when the stream had none
  if (typeof out.subtitles === "string") {
    saveBlob(new Blob([out.subtitles], { type: "text/plain" }), `speech.${format}`);
  } else if (out.subtitles_presigned_url) {
    window.open(out.subtitles_presigned_url, "_blank", "noopener");
    stats.downloads.push({ name: `speech.${format}`, url: out.subtitles_presigned_url });
  } else {
    throw new ApiError(`The job ended ${job.status || "without subtitles"}.`);
  }
}

// ---- voices -------------------------------------------------------------------------------

function voiceNames(body) {
  const list = Array.isArray(body) ? body : body.voices ?? body.data ?? [];
  return list.map((v) => (typeof v === "string" ? v : v.name ?? v.id ?? v.voice_id));
}

async function loadVoices(select) {
  const response = await api("/v1/audio/voices");
  const names = voiceNames(await response.json());
  const keep = select ?? $("voice").value;
  $("voice").replaceChildren(...names.map((name) => new Option(name, name)));
  if (names.includes(keep)) $("voice").value = keep;
}

async function uploadVoice(event) {
  event.preventDefault();
  const form = $("voice-form");
  if (!form.reportValidity()) return;
  const data = new FormData(form);
  if (!data.get("text")) data.delete("text");
  if (!data.get("language")) data.delete("language");
  await withButton($("upload-voice"), async () => {
    await api("/v1/audio/voices", { method: "POST", body: data });
    const name = String(data.get("name"));
    await loadVoices(name);
    form.reset();
    $("state").textContent = `Voice “${name}” added.`;
  });
}

async function deleteVoice() {
  const name = $("voice").value;
  if (!name) return;
  await withButton($("delete-voice"), async () => {
    await api(`/v1/audio/voices/${encodeURIComponent(name)}`, { method: "DELETE" });
    await loadVoices();
    $("state").textContent = `Voice “${name}” deleted.`;
  });
}

// ---- wiring -------------------------------------------------------------------------------

function init() {
  $("speak-form").addEventListener("submit", play);
  $("stop").addEventListener("click", () => { stop(); setState("idle", "Stopped."); });
  $("speed").addEventListener("input", () => {
    $("speed-value").textContent = `${Number($("speed").value).toFixed(2)}×`;
  });
  $("download-audio").addEventListener("click", (e) => withButton(e.currentTarget, downloadAudio));
  $("download-subtitles").addEventListener("click",
    (e) => withButton(e.currentTarget, downloadSubtitles));
  $("voice-form").addEventListener("submit", uploadVoice);
  $("delete-voice").addEventListener("click", deleteVoice);
  // Ctrl+Enter (or Cmd+Enter) in the text plays it.
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("speak-form").requestSubmit();
  });
  loadVoices()
    .then(() => { stats.ready = true; })
    .catch((err) => { stats.ready = true; showError(err.message); });
}

init();
