"""What is asked of the fleet: training jobs (synthetic, from public cluster traces, or
published presets) and the ground cities that send inference requests."""
