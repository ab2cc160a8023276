"""What the tests share: host trees, XPU Manager stand-ins, real test hosts, report readers."""
