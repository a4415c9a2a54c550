"""Array helpers every stage shares: category codes (:mod:`.categorical`), and memory
given back to the system between stages (:mod:`.memory`)."""
