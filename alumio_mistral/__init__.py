"""alumio-mistral: a declarative connector for the Mistral AI API."""

__version__ = "0.1.0"
