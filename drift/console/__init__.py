"""The web console: the fleet, a server's timeline and its findings, read from the table and served as
plain HTML (`drift.console.app`) by the Function app and by `mysql-drift local up`."""
