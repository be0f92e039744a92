"""Personal data with a lifetime: the data map, retention, subject requests, key rotation."""
