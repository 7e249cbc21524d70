"""Sorami notifier: generation outcomes in, user notifications (and notification.created) out."""
