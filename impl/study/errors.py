"""The study's one error type: a config that cannot be a study, said in one line."""

from __future__ import annotations


class ConfigError(ValueError):
    """The config is wrong; the message is one line that names the key and what is allowed."""


class HypothesisConfigError(ConfigError):
    """A one-line message naming the hypothesis (or answer entry), the field and the allowed
    values: ``config hypotheses[i] (id): ...``."""
