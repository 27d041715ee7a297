"""Setting Accord up: the provider presets, files it writes (accord.yaml, env, service units, Claude Code's
config) and the importer of a LiteLLM + PAL setup. Pure logic; the commands in accord.cli drive it."""
