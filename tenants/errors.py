"""Errors raised by the tenancy layer."""


class TenancyError(Exception):
    """Base class of tenancy errors."""


class NoTenantContext(TenancyError):
    """A tenant-owned table was touched outside any tenant context."""


class CrossTenantWrite(TenancyError):
    """A write of a row that belongs to another tenant than the current context."""


class UncheckedSQL(TenancyError):
    """Textual SQL through a session: the isolation layer cannot see which tables it reads."""


class SlugTaken(TenancyError):
    """A tenant with this slug already exists."""


class TenantNotFound(TenancyError):
    """No tenant has this slug."""
