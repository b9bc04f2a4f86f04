"""clinvk: one command in front of the AI coding CLIs, with resumable sessions."""

__version__ = "0.1.0"
