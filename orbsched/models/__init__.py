"""Pure physics and bookkeeping models with no event loop: the power bus (solar array,
battery), the thermal node (radiator), radiation faults, and a training job's progress with
checkpoints."""
