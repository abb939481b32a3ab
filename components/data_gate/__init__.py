"""DataGate: refuses a span of videos before training when its data looks wrong."""
