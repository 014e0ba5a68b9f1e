"""The state graphs: the compliance council, its runtime context, CLI, checkpointing and web app."""
