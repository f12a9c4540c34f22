"""Who is calling: bearer-token validation, the caller's roles, and the permission table."""
