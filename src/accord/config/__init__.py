"""Accord's config: its schema, YAML and env-file loading, and the one LiteLLM translation.

The names other modules use are re-exported here; `accord.config.litellm` is the translation `accord import`
shares with the runtime.
"""

from __future__ import annotations

from .checks import LOOPBACK, PANEL_NAME, check_panels, finish
from .deployments import default_base, deployment_from, split_model, stray_api_bases
from .load import config_dir, find, load, parse, zero_config
from .loaded import Config, Deployment
from .schema import (
    AccordFile,
    AgentSettings,
    ConsensusSettings,
    MCPSettings,
    ModelEntry,
    PanelSettings,
    Settings,
)

__all__ = [
    "LOOPBACK", "PANEL_NAME", "AccordFile", "AgentSettings", "Config", "ConsensusSettings", "Deployment", "MCPSettings", "ModelEntry",
    "PanelSettings", "Settings", "check_panels", "config_dir", "default_base", "deployment_from", "find", "finish",
    "load", "parse", "split_model", "stray_api_bases", "zero_config",
]
