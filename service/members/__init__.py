"""The branch's people: party members, league members, workers; and its party groups."""
