"""AWS Identity and Access Management as the services apply it: policy evaluation (`policy`),
the calls each service makes on a role's behalf (`calls`), used wherever local mode makes such
a call, and the IAM action and resource of each API operation a role session may call on the
emulator (`operations`, used by `pipekit.emulator.authn`)."""
