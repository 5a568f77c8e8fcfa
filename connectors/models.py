"""Models of the connectors app."""
