"""Utilities: process-group helpers, logging, events, seeding, atomic file writes."""
