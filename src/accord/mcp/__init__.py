"""The MCP server for Claude Code and any MCP client: thin tools over accord.consensus and the router.

The official `mcp` SDK is imported only inside this package (and lazily), so the gateway and the CLI start
without it. `server.build` makes the server; `stdio.run` and `http.MCPMount` serve it.
"""
