"""covenant workflow: round model, state machine, storage, documents, archive, CLI."""

import signing  # noqa: F401  (its import settles the libraries' warnings before any of them is imported)
