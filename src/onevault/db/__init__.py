"""The database: embedded server, roles, migrations, named queries and tenant-scoped transactions."""
