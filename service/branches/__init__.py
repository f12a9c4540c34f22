"""The zone's register of branches (the tenant registry, seen through the zone API)."""
