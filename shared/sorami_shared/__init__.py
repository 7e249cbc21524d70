"""Sorami's common package: what every service imports, nothing service-specific."""
