"""The harness: what a command does against AWS or the emulator, the same code for both.
config (environments) -> session (clients, errors) -> preflight (checks before any change) ->
publish (templates to S3) -> deploy (change set, follow) -> events/status/destroy."""
