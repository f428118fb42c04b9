"""IAM as AWS answers it, where moto differs.

- Policy documents on the wire: every `policyDocumentType` member of an IAM response is the JSON
  document URL-encoded per RFC 3986 (IAM API reference, e.g. GetRolePolicy: "Policies returned
  by this operation are URL-encoded compliant with RFC 3986"; the members are found by walking
  botocore's IAM output shapes, as botocore's `json_decode_policies` handler finds them to decode
  them). moto stored CloudFormation's inline policies as dicts and sent their Python repr; sent
  GetPolicyVersion/ListRoles documents unencoded; pre-quoted some lists (leaving "/" as is); and
  answered GetAccountAuthorizationDetails with a 500 (and without its policies' names).
  PolicyVersion.Document is left out of CreatePolicyVersion and ListPolicyVersions, as
  botocore's model documents ("It is not returned in the response to the CreatePolicyVersion or
  ListPolicyVersions operations").
- Documents are stored as JSON text: "AWS CloudFormation always converts a YAML policy to JSON
  format before submitting it to IAM" (IAM API reference, GetRolePolicy, PolicyDocument).
- AWS-managed policies exist, with AWS's documents (moto ships them, in
  moto/iam/aws_managed_policies.py, but loads them only with MOTO_IAM_LOAD_MANAGED_POLICIES, and
  then all ~1,500 into every backend on every reset, ~0.2 s each): one is materialised in an
  account the first time an ARN names it (attach, GetPolicy, GetPolicyVersion), all of them for
  ListPolicies with Scope AWS or All.
- AWS::IAM::Role: ManagedPolicyArns are attached (moto ignored them); an ARN that does not exist
  fails the resource with AWS's NoSuchEntity before the role is created; updates follow
  ManagedPolicyArns, Policies, AssumeRolePolicyDocument, Description and MaxSessionDuration
  (moto updated the description only, and read MaxSessionDuration from RoleDescription);
  deletion detaches the managed policies first (moto's DeleteRole refused: DeleteConflict).
- A missing role is "The role with name <name> cannot be found." (moto: "Role <name> not found").
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from typing import Any
from urllib.parse import quote

import botocore.session
from moto.utilities.utils import get_partition

POLICY_DOCUMENT = "policyDocumentType"
# botocore's IAM model, PolicyVersion.Document (quoted above)
DOCUMENT_NOT_SENT = ("CreatePolicyVersion", "ListPolicyVersions")

_materialise = threading.Lock()


def patch() -> None:
    _encode_documents()
    _documents_as_json()
    _aws_managed_policies()
    _role_not_found_message()
    _cloudformation_role()


# --- documents on the wire ------------------------------------------------------------------


def encode_document(value: Any) -> str | None:
    """A policy document as IAM sends it: JSON text, percent-encoded per RFC 3986 (everything but
    the unreserved characters A-Z a-z 0-9 - . _ ~)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text, safe="")


def _never(_: Any) -> None:
    return None


@functools.cache
def document_paths() -> tuple[str, ...]:
    """The serializer key path of every policyDocumentType member in IAM's outputs, written as
    moto's serializer builds it: operation, output shape, then member names, with a list's
    member shape name for its items."""
    model = botocore.session.get_session().get_service_model("iam")
    found: list[str] = []

    def walk(shape: Any, path: str, depth: int) -> None:
        if depth > 10:
            return
        if shape.type_name == "structure":
            for key, member in shape.members.items():
                if member.type_name == "string" and member.name == POLICY_DOCUMENT:
                    found.append(f"{path}.{key}")
                else:
                    walk(member, f"{path}.{key}", depth + 1)
        elif shape.type_name == "list":
            walk(shape.member, f"{path}.{shape.member.name}", depth + 1)

    for operation in model.operation_names:
        output = model.operation_model(operation).output_shape
        if output is not None:
            walk(output, f"{operation}.{output.name}", 0)
    return tuple(found)


def _encode_documents() -> None:
    from moto.iam import models
    from moto.iam.responses import IamResponse

    transformers: dict[str, Any] = {
        path: _never if path.split(".", 1)[0] in DOCUMENT_NOT_SENT else encode_document
        for path in document_paths()
    }
    # first match wins: these full paths before moto's own (shorter) suffixes
    IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER = {
        **transformers,
        **IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER,
    }

    # moto quoted these lists itself; the documents now leave raw and are encoded once, above
    def inline(policies: dict[str, str]) -> list[dict[str, str]]:
        return [{"PolicyName": n, "PolicyDocument": d} for n, d in policies.items()]

    models.Role.role_policy_list = property(lambda self: inline(self.policies))
    models.Group.group_policy_list = property(lambda self: inline(self.policies))
    models.User.user_policy_list = property(lambda self: inline(self.policies))
    # GetAccountAuthorizationDetails' ManagedPolicyDetail names them PolicyName and PolicyId,
    # which moto's serializer looked for in vain (the Policy shape's alias rule does not apply)
    models.Policy.policy_name = property(lambda self: self.name)
    models.Policy.policy_id = property(lambda self: self.id)
    models.Policy.policy_version_list = property(
        lambda self: [
            {
                "Document": v.document,
                "VersionId": v.version_id,
                "IsDefaultVersion": v.is_default_version,
                "CreateDate": v.create_date,
            }
            for v in self.versions
        ]
    )


def _documents_as_json() -> None:
    from moto.iam import models

    for cls in (models.Role, models.Group, models.User):
        original = cls.put_policy

        def put_policy(self: Any, name: str, document: Any, _original: Any = original) -> None:
            _original(self, name, document if isinstance(document, str) else json.dumps(document))

        cls.put_policy = put_policy


# --- AWS-managed policies --------------------------------------------------------------------


@functools.cache
def _aws_policy_data() -> dict[str, dict[str, Any]]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def _aws_policy_name(backend: Any, arn: str) -> str | None:
    prefix = f"arn:{backend.partition}:iam::aws:policy"
    if not arn.startswith(prefix + "/"):
        return None
    path, _, name = arn[len(prefix) :].rpartition("/")
    data = _aws_policy_data().get(name)
    if data is None or (data.get("Path") or "/") != f"{path}/":
        return None
    return name


def _add_aws_policy(backend: Any, name: str) -> None:
    from moto.iam.models import AWSManagedPolicy

    data = _aws_policy_data()[name]
    policy = AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, data)
    if policy.arn not in backend.managed_policies:
        backend.aws_managed_policies.append(policy)
        backend.managed_policies[policy.arn] = policy


def ensure_aws_policy(backend: Any, arn: str) -> None:
    """Materialise the AWS-managed policy `arn` names in this account (nothing for other ARNs)."""
    if not arn or arn in backend.managed_policies:
        return
    name = _aws_policy_name(backend, arn)
    if name is not None:
        with _materialise:
            _add_aws_policy(backend, name)


def _all_aws_policies(backend: Any) -> None:
    if getattr(backend, "pipekit_all_aws_policies", False):
        return
    with _materialise:
        for name in _aws_policy_data():
            _add_aws_policy(backend, name)
        backend.pipekit_all_aws_policies = True


def _aws_managed_policies() -> None:
    from moto.iam.models import IAMBackend

    def by_arn(method: str) -> None:
        original = getattr(IAMBackend, method)

        def wrapped(self: Any, policy_arn: str, *args: Any, **kwargs: Any) -> Any:
            ensure_aws_policy(self, policy_arn)
            return original(self, policy_arn, *args, **kwargs)

        setattr(IAMBackend, method, wrapped)

    # get_policy_version and list_policy_versions go through get_policy
    for method in ("attach_role_policy", "attach_group_policy", "attach_user_policy", "get_policy"):
        by_arn(method)

    original_list = IAMBackend.list_policies

    def list_policies(self: Any, marker: Any, max_items: int, only_attached: bool, *args: Any):
        path_prefix, scope = args
        if scope != "Local" and not only_attached:
            _all_aws_policies(self)
        return original_list(self, marker, max_items, only_attached, path_prefix, scope)

    IAMBackend.list_policies = list_policies


# --- roles ------------------------------------------------------------------------------------


def _role_not_found_message() -> None:
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import IAMBackend

    original = IAMBackend.get_role

    def get_role(self: Any, role_name: str) -> Any:
        try:
            return original(self, role_name)
        except NotFoundException:
            # AWS's wording (NoSuchEntity), e.g. "The role with name X cannot be found."
            raise NotFoundException(f"The role with name {role_name} cannot be found.") from None

    IAMBackend.get_role = get_role


def _require_attachable(backend: Any, arn: str) -> None:
    """CloudFormation's failure for a ManagedPolicyArns entry that names no policy, worded as
    CloudFormation reports IAM's NoSuchEntity (newrelic/aws-log-ingestion#77, an AWS::IAM::Role
    with ManagedPolicyArns: "Policy arn:aws:iam::aws:policy/service-role/AWSConfigRole does not
    exist or is not attachable. (Service: AmazonIdentityManagement; Status Code: 404; Error Code:
    NoSuchEntity; Request ID: ...; Proxy: null)")."""
    from moto.iam.exceptions import NotFoundException

    ensure_aws_policy(backend, arn)
    if arn not in backend.managed_policies:
        raise NotFoundException(
            f"Policy {arn} does not exist or is not attachable. (Service: "
            "AmazonIdentityManagement; Status Code: 404; Error Code: NoSuchEntity; "
            f"Request ID: {uuid.uuid4()}; Proxy: null)"
        )


def _sync_role(backend: Any, role: Any, props: dict[str, Any]) -> None:
    """Attach/detach the ManagedPolicyArns and put/delete the Policies the template says; the
    inline policies of AWS::IAM::Policy resources (not the role's own) are left alone."""
    wanted = list(props.get("ManagedPolicyArns") or [])
    for arn in wanted:
        _require_attachable(backend, arn)
    for arn in list(role.managed_policies):
        if arn not in wanted:
            backend.detach_role_policy(arn, role.name)
    for arn in wanted:
        if arn not in role.managed_policies:
            backend.attach_role_policy(arn, role.name)
    policies = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies") or []}
    for name in getattr(role, "pipekit_own_policies", set()) - set(policies):
        role.delete_policy(name)
    for name, document in policies.items():
        role.put_policy(name, document)
    role.pipekit_own_policies = set(policies)


def _cloudformation_role() -> None:
    from moto.iam.models import Role, iam_backends

    original_create = Role.create_from_cloudformation_json.__func__
    original_delete = Role.delete_from_cloudformation_json.__func__

    def backend_for(account_id: str, region_name: str) -> Any:
        return iam_backends[account_id][get_partition(region_name)]

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        backend = backend_for(account_id, region_name)
        props = cloudformation_json["Properties"]
        for arn in props.get("ManagedPolicyArns") or []:
            _require_attachable(backend, arn)  # before the role exists: nothing to roll back
        role = original_create(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        _sync_role(backend, role, props)
        return role

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        backend = backend_for(account_id, region_name)
        props = cloudformation_json["Properties"]
        role = backend.update_role(
            props.get("RoleName", original_resource.name),
            props.get("Description", ""),
            props.get("MaxSessionDuration", 3600),
        )
        trust = props.get("AssumeRolePolicyDocument")
        if trust is not None:
            role.assume_role_policy_document = (
                trust if isinstance(trust, str) else json.dumps(trust)
            )
        _sync_role(backend, role, props)
        return role

    def delete(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = backend_for(account_id, region_name)
        for role in list(backend.roles.values()):
            if role.name == resource_name:
                for arn in list(role.managed_policies):
                    backend.detach_role_policy(arn, role.name)
        original_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    Role.create_from_cloudformation_json = classmethod(create)
    Role.update_from_cloudformation_json = classmethod(update)
    Role.delete_from_cloudformation_json = classmethod(delete)
