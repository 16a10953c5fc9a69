"""The widgets the terminal UI's screens are built from."""
