"""netcheck: pre-rollout egress checks for the vendor's endpoints."""

__version__ = "0.1.0"
