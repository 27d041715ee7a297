"""Accord's benchmark harness: Accord against direct-to-upstream and LiteLLM's proxy, in one run."""
