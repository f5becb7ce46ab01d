"""Database and role names from tenant slugs. Pure.

Slugs are DNS labels (a-z, 0-9, '-') of at most 40 characters, so `tenant_` + slug with '-' -> '_' is
injective and far below PostgreSQL's 63-byte identifier limit; a longer name is shortened with a hash of the
whole slug, never truncated into another tenant's name.
"""

from __future__ import annotations

import hashlib

PREFIX = "tenant_"
IDENTIFIER_MAX_BYTES = 63
OWNERSHIP_COMMENT = "managed by tenant-operator for tenant {slug}"


def database_identifier(slug: str) -> str:
    name = PREFIX + slug.replace("-", "_")
    if len(name.encode()) <= IDENTIFIER_MAX_BYTES:
        return name
    digest = hashlib.sha256(slug.encode()).hexdigest()[:10]
    return f"{name[: IDENTIFIER_MAX_BYTES - len(digest) - 1]}_{digest}"


def ownership_comment(slug: str) -> str:
    """Marks a role or database as the tenant's, so the operator never adopts one it did not make."""
    return OWNERSHIP_COMMENT.format(slug=slug)
