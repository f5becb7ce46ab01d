"""Notifications to a tenant's admins: e-mail from jinja2 templates over SMTP, and HMAC-signed webhooks."""
