"""OneVault: self-hosted, multi-tenant website analytics on a Data Vault 2.0 PostgreSQL warehouse."""

__version__ = "0.1.0"
