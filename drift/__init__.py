"""mysql-drift: event-driven security drift detection for Azure Database for MySQL flexible servers."""
