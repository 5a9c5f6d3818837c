"""The agent's tools over the gym database."""
