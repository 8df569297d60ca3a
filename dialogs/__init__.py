"""Call flows: YAML schema, validation, engine and per-call context."""
