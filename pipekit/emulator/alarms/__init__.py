"""CloudWatch alarm evaluation, which moto lacks (it stores alarms and metric data, never evaluates
them): `evaluate` (plain functions: an alarm in DescribeAlarms shape + its samples -> the state
CloudWatch would give it), `mathexpr` (the metric-math expressions our templates use), `tick`
(evaluates every alarm of a backend on the emulator clock and records the state changes),
`store` (PutMetricData in-process, stored as moto's API path stores it)."""
