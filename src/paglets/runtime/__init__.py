"""One host: registry, mailboxes, workers, mobility, persistence of inactive paglets."""
