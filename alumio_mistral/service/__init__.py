"""What ``serve`` answers over HTTP: webhooks into tasks, health, metrics."""
