"""Workers: execute runs (commands, run modes) and deliver them (destinations, retries)."""
