"""Accord: many LLM providers behind one OpenAI-compatible endpoint, and an MCP server that asks them all."""

__version__ = "0.1.0"
