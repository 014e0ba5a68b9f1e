"""The state graphs: runtime context, the chat graph and (soon) the compliance council."""
