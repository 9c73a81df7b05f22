"""In-process ASGI benchmarks: `python -m bench`."""
