"""Alibaba Cloud access shared by the dynamic providers and the backend reconciler: credentials as pulumi-alicloud
finds them, one adapter over the official SDK clients, retries and bounded waits, and the ENS calls."""
