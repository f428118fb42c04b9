"""AWS Identity and Access Management as the services apply it: policy evaluation (`policy`),
used wherever local mode makes a call on a role's behalf."""
