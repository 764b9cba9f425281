"""Files on disk done safely: received files verified before they are visible, writeback."""
