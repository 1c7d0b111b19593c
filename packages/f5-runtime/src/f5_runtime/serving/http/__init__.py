"""The HTTP server (`f5-runtime serve`; the worker under F5_MODE=http): OpenAI's speech API,
the native API, /ping and /health, on FastAPI + uvicorn.

    app.py       build_app(settings, engines): routes, API keys, the page at /
    protocol.py  OpenAI's request fields and ranges, and its error shape
    errors.py    any exception -> OpenAI's error object with the right status
    speech.py    POST /v1/audio/speech (audio or SSE, streamed chunk by chunk), GET /v1/models
    native.py    POST /runsync, /run, /status/{id}, /stream/{id}: the queue endpoint's API
    voices.py    GET/POST /v1/audio/voices, DELETE /v1/audio/voices/{name}; a speech `voice`
    service.py   what the routes share: engines, the job runner, admission, counters
    admission.py the bounded queue (429 beyond F5_MAX_QUEUE), the counters
    serve.py     the command: uvicorn on PORT (and PORT_HEALTH), engines loaded in background
"""
