"""Local mode: the whole pipeline on this machine, no AWS account.

`lifecycle` (up, down, info) starts `service`, the one background process holding the emulated
AWS endpoint and the pipeline `engine`. The engine reads the deployed definition (`definition`),
runs each action through its provider in `actions` (recorded by `wire`, with `artifacts` and
`logs`; CodeDeploy's deployments by `deployer`; every call a service makes with a role authorized
by `authz`; a build's own calls made with a session of its role, `rolecreds`), builds and
deploys on `runtime` (nspawn hosts, the buildspec and hook runners) and learns of pushes from
`gitremote`. `state` is `.local/state.json`, `control` the service's control endpoint seen from
outside, `bench` the speed benchmark."""
