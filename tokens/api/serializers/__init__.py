"""Tokens' API shapes, split by subject."""
