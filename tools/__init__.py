"""Tools the agents call: retrieval and experts-as-tools (see the retrieval issue)."""
