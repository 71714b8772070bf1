"""Contract suites: one abstract test class per port, one small subclass per adapter."""
