"""Fixes to moto's CloudFormation engine, one module per part of it:

- yamlfix, templateurl: how a template is read (short-form tags; TemplateURL and its errors);
- intrinsics: Fn::GetAtt, Fn::Cidr, Fn::GetAZs, AWS::NoValue in lists;
- resourcemap: each resource's create/update/delete inside an operation, with its events;
- stacks: stack operations (serialised calls, outputs, DELETE_FAILED);
- rollback: failed creates and updates roll back;
- nested: AWS::CloudFormation::Stack;
- changes, changesets: what an update changes, and change sets;
- capabilities: the checks on a request before anything is created.
"""
