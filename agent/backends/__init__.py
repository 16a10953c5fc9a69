"""Backends that talk to a model server: `local` (our engine) and `openai:URL`."""
