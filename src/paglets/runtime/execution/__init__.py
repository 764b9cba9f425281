"""Running paglet code on this host: the local paglet record, mailboxes, workers, lifecycle."""
