"""What accounts announces. Sent inside the registration's transaction, so a receiver that
raises undoes the registration too."""

from django.dispatch import Signal

# Sent with `user_id` (UUID) by accounts.services.user_register for every new sign-up.
user_registered = Signal()
