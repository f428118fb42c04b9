"""CloudFormation documents as plain data: templates (`template`), what a template becomes for
given parameter values (`render`), and parameter files and CloudFormation's parameter rules
(`parameters`), the one implementation preflight and the emulator both use."""
