"""Talking to the X API v2 through tweepy: clients, retries, and the reads the assets need."""
