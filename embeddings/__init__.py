"""Embeddings and the on-disk index: a local sentence-transformers encoder and the index store."""

from embeddings.encoder import DEFAULT_MODEL, Encoder, resolve_model

__all__ = ["DEFAULT_MODEL", "Encoder", "resolve_model"]
