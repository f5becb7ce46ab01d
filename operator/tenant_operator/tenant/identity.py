"""Tenant identity rules, pure: display names are unique regardless of case and spacing; slugs derive from them."""

from __future__ import annotations

import re

from .model import SLUG_MAX_LENGTH


def display_name_key(display_name: str) -> str:
    """'Acme  Corp' and 'acme corp' are the same display name."""
    return " ".join(display_name.split()).casefold()


def slugify(display_name: str) -> str:
    """A DNS-label slug from a display name: 'Acme Corp. 2' -> 'acme-corp-2'."""
    slug = re.sub(r"[^a-z0-9]+", "-", display_name.casefold()).strip("-")
    return slug[:SLUG_MAX_LENGTH].rstrip("-") or "tenant"
