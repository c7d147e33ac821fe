"""Business logic behind the HTTP API and the CLI: routes stay thin and call these."""
