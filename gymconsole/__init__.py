"""gymconsole: a terminal operations console for a gym's front desk."""

__version__ = "0.1.0"
