"""The MCP client: servers from the configuration, their tools as ours (mcp__SERVER__TOOL).

config.py parses `[mcp_servers.NAME]`, connection.py holds one server's connection,
hub.py runs a session's servers, tool.py turns their tools and results into ours, and
schema.py cleans their JSON schemas for the chat request. docs/mcp.md is the user's guide.
"""
