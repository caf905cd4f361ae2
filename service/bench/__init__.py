"""`datasteward bench`: throughput, latency and storage figures measured on a scratch database."""
