"""The agent: configuration, the loop, sessions and the command line."""
