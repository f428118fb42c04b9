"""What local mode runs on: systemd-nspawn hosts standing in for EC2 instances (`host`, on a
cached root filesystem, `rootfs`, with the process and mount helpers of `procs`), the buildspec
runner standing in for CodeBuild (`buildrunner`) and the hook runner standing in for the
CodeDeploy agent (`hookrunner`, with the agent's layout in `agent` and its Install event in
`install`)."""
