"""pipekit: deploy, inspect, test and tear down the EC2 CI/CD pipeline, on AWS or locally."""
