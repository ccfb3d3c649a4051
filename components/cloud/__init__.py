"""Shared plumbing of the dynamic providers: credentials, SDK clients, retries and bounded waits."""
