"""Local stand-ins for Azure used by the tests and the local stack (ARM, Teams, Graph)."""
