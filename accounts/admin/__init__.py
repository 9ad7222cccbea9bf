"""The accounts admin, registered by importing its modules: users, API keys and groups
(roles), and the password pages config.urls serves."""

from accounts.admin import api_keys, groups, users

__all__ = ["api_keys", "groups", "users"]
