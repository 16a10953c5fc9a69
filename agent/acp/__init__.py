"""Tessera as an Agent Client Protocol agent (`tessera acp`), for editors; see
agent/acp/server.py and docs/editors.md."""
