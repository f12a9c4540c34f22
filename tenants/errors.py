"""Errors raised by the tenancy layer."""


class TenancyError(Exception):
    """Base class of tenancy errors."""


class NoTenantContext(TenancyError):
    """A tenant-owned table was touched outside any tenant context."""


class CrossTenantWrite(TenancyError):
    """A write of a row that belongs to another tenant than the current context."""


class SlugTaken(TenancyError):
    """A tenant with this slug already exists."""


class TenantNotFound(TenancyError):
    """No tenant has this slug."""
