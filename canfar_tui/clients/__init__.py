"""The async client layer."""
