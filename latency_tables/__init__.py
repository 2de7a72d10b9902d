"""Shipped latency lookup tables (package data; see README.md in this folder)."""
