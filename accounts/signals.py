"""What accounts announces. Sent inside the transaction that created the user, so a receiver
that raises undoes the user too."""

from django.dispatch import Signal

# Sent with `user_id` (UUID) for every new user, signed up or added by staff in the admin
# (accounts.services.user_created_announce).
user_registered = Signal()
