"""Detection: rules (YAML), baselines, detectors behind one protocol, and the evaluator."""
