"""Agent-shaped load (issue 21): seven scenarios, each measured on direct, Accord, LiteLLM and Portkey in one run."""
