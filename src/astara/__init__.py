"""Astara: network orchestration with per-resource service appliances."""
