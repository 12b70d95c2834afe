"""pytest plugin: the mistral_sandbox fixture (being written)."""
