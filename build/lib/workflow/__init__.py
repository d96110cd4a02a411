"""covenant workflow: round model, state machine, storage, documents, archive, CLI."""
