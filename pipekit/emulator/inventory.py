"""What exists in the emulator, read back through the service APIs (for leak checks)."""

from __future__ import annotations

from typing import Any

from pipekit.emulator.server import Emulator


def inventory(emulator: Emulator, region: str = "us-east-1") -> dict[str, set[str]]:
    """Every resource the project's templates can create, read back through the service APIs:
    compare before/after to prove a delete left nothing behind (or deleted nothing else)."""
    from pipekit.emulator.connections.store import list_connections

    def c(name: str) -> Any:
        return emulator.client(name, region)

    ec2, iam = c("ec2"), c("iam")
    found: dict[str, set[str]] = {
        "vpcs": {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")},
        "subnets": {
            s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if not s.get("DefaultForAz")
        },
        "internet_gateways": {
            g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]
        },
        "route_tables": {r["RouteTableId"] for r in ec2.describe_route_tables()["RouteTables"]},
        "security_groups": {
            g["GroupId"]
            for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"] != "default"
        },
        "addresses": {a.get("AllocationId", "") for a in ec2.describe_addresses()["Addresses"]},
        "launch_templates": {
            t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
        },
        "running_instances": {
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        },
        "auto_scaling_groups": {
            g["AutoScalingGroupName"]
            for g in c("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        },
        "load_balancers": {
            lb["LoadBalancerArn"] for lb in c("elbv2").describe_load_balancers()["LoadBalancers"]
        },
        "target_groups": {
            t["TargetGroupArn"] for t in c("elbv2").describe_target_groups()["TargetGroups"]
        },
        "roles": {r["RoleName"] for r in iam.list_roles()["Roles"]},
        "instance_profiles": {
            p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
        },
        "buckets": {b["Name"] for b in c("s3").list_buckets()["Buckets"]},
        "pipelines": {p["name"] for p in c("codepipeline").list_pipelines()["pipelines"]},
        "build_projects": set(c("codebuild").list_projects()["projects"]),
        "deploy_applications": set(c("codedeploy").list_applications()["applications"]),
        "alarms": {a["AlarmName"] for a in c("cloudwatch").describe_alarms()["MetricAlarms"]},
        "topics": {t["TopicArn"] for t in c("sns").list_topics()["Topics"]},
        "subscriptions": {
            s["SubscriptionArn"] for s in c("sns").list_subscriptions()["Subscriptions"]
        },
        "log_groups": {g["logGroupName"] for g in c("logs").describe_log_groups()["logGroups"]},
        "event_rules": {r["Name"] for r in c("events").list_rules()["Rules"]},
        "connections": {conn.arn for conn in list_connections("codeconnections")},
    }
    return found
