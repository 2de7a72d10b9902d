"""Runtime shared by every command: errors, device, distributed launch, checkpoints, logging."""
