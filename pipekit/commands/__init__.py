"""Sub-commands of the pipekit CLI, one module each."""
