"""Agora: a self-hosted brokerage and algorithmic trading platform."""

__version__ = "0.1.0"
