"""AWS Identity and Access Management as the services apply it: policy evaluation (`policy`) and
the calls each service makes on a role's behalf (`calls`),
used wherever local mode makes such a call."""
