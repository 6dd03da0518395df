"""aftersales: an after-sales desk run from TOML policies and append-only CSV ledgers."""

__version__ = "0.1.0"
