"""API v1: the request a job sends (request.py: types and all validation, messages.py: the
error messages) and the result it gets back (result.py)."""
