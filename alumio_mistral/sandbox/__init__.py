"""The Mistral API sandbox (being written)."""
