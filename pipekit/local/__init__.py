"""Local mode: the whole pipeline on this machine, no AWS account (service, engine, git remote)."""
