"""Signed webhooks: endpoints admins configure, deliveries queued with events, sent later."""
