"""Tenancy: the tenant registry, the tenant context and the machinery that keeps tenants apart."""
