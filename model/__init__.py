"""The unified model: config, checkpoints, reference implementation, chat protocol, backends."""
