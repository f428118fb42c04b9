"""pipekit.iam.policy against the IAM user guide's evaluation rules, one rule per test, including
the cases where moto's evaluator answers wrongly (a non-matching condition on an Allow is not a
deny; NotResource; actions are case-insensitive)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from pipekit.iam.policy import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    UnsupportedPolicy,
    access_denied_message,
    evaluate,
    load_document,
)

BUCKET = "arn:aws:s3:::pipekit-dev-artifacts"
OBJECT = f"{BUCKET}/pipekit-dev-pipeline/SourceOutp/abc.zip"
ROLE = "arn:aws:iam::111122223333:role/pipekit-dev-CodePipelineRole"


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def result(policies, action, resource, context=None, **kwargs):
    return evaluate(policies, action, resource, context, **kwargs).result


def test_nothing_allows_means_an_implicit_deny():
    assert result([doc(allow("s3:GetObject", OBJECT))], "s3:PutObject", OBJECT) == IMPLICIT_DENY


def test_an_allow_on_the_resource_allows():
    policies = [doc(allow(["s3:GetObject", "s3:PutObject"], f"{BUCKET}/*"))]
    assert result(policies, "s3:PutObject", OBJECT) == ALLOWED


def test_the_bucket_arn_does_not_cover_its_objects_nor_the_reverse():
    assert result([doc(allow("s3:*", BUCKET))], "s3:GetObject", OBJECT) == IMPLICIT_DENY
    assert result([doc(allow("s3:*", f"{BUCKET}/*"))], "s3:ListBucket", BUCKET) == IMPLICIT_DENY


def test_an_explicit_deny_anywhere_wins_over_any_allow():
    policies = [doc(allow("s3:*", f"{BUCKET}/*")), doc(deny("s3:PutObject", f"{BUCKET}/*"))]
    assert result(policies, "s3:PutObject", OBJECT) == EXPLICIT_DENY


def test_actions_match_case_insensitively_with_wildcards():
    assert result([doc(allow("S3:put*", OBJECT))], "s3:PutObjectAcl", OBJECT) == ALLOWED
    assert result([doc(allow("s3:Get?bject", OBJECT))], "s3:GetObject", OBJECT) == ALLOWED
    assert result([doc(allow("s3:Get?bject", OBJECT))], "s3:GetObjectAcl", OBJECT) == IMPLICIT_DENY


def test_resources_match_case_sensitively():
    upper = OBJECT.replace("abc", "ABC")
    assert result([doc(allow("s3:GetObject", OBJECT))], "s3:GetObject", upper) == IMPLICIT_DENY


def test_not_action_and_not_resource():
    policies = [
        doc(
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:*", "NotResource": f"{BUCKET}/*"},
        )
    ]
    assert result(policies, "s3:GetObject", OBJECT) == ALLOWED
    assert result(policies, "s3:GetObject", "arn:aws:s3:::other/x") == EXPLICIT_DENY
    assert result(policies, "iam:PassRole", ROLE) == IMPLICIT_DENY


def test_an_allow_whose_condition_does_not_hold_does_not_apply_it_is_no_deny():
    passrole = allow(
        "iam:PassRole",
        ROLE,
        Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    )
    other = allow("iam:PassRole", ROLE)
    context = {"iam:PassedToService": "lambda.amazonaws.com"}
    assert result([doc(passrole)], "iam:PassRole", ROLE, context) == IMPLICIT_DENY
    # moto's evaluator answers DENIED here, and would let the first statement veto the second
    assert result([doc(passrole, other)], "iam:PassRole", ROLE, context) == ALLOWED
    ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    assert result([doc(passrole)], "iam:PassRole", ROLE, ec2) == ALLOWED


def test_a_missing_key_fails_positive_operators_and_satisfies_negated_ones():
    positive = allow("s3:GetObject", OBJECT, Condition={"StringEquals": {"aws:SourceAccount": "1"}})
    negated = deny("s3:*", "*", Condition={"StringNotEquals": {"aws:SourceAccount": "1"}})
    assert result([doc(positive)], "s3:GetObject", OBJECT) == IMPLICIT_DENY
    assert result([doc(allow("s3:*"), negated)], "s3:GetObject", OBJECT) == EXPLICIT_DENY
    assert result([doc(allow("s3:*"), negated)], "s3:GetObject", OBJECT, {"aws:SourceAccount": "1"})


def test_if_exists_and_null():
    if_exists = allow(
        "s3:GetObject", OBJECT, Condition={"StringEqualsIfExists": {"s3:prefix": "a/"}}
    )
    assert result([doc(if_exists)], "s3:GetObject", OBJECT) == ALLOWED
    assert result([doc(if_exists)], "s3:GetObject", OBJECT, {"s3:prefix": "b/"}) == IMPLICIT_DENY
    absent = allow("s3:GetObject", OBJECT, Condition={"Null": {"aws:TokenIssueTime": "true"}})
    assert result([doc(absent)], "s3:GetObject", OBJECT) == ALLOWED
    assert result([doc(absent)], "s3:GetObject", OBJECT, {"aws:TokenIssueTime": "x"}) == (
        IMPLICIT_DENY
    )


def test_several_values_are_ored_several_keys_and_operators_anded():
    both = allow(
        "ec2:RunInstances",
        "*",
        Condition={
            "StringEquals": {"aws:ResourceTag/app": ["a", "b"], "aws:RequestTag/env": "dev"},
            "Bool": {"aws:SecureTransport": "true"},
        },
    )
    good = {"aws:ResourceTag/app": "b", "aws:RequestTag/env": "dev", "aws:SecureTransport": "true"}
    assert result([doc(both)], "ec2:RunInstances", "arn:x", good) == ALLOWED
    for key, value in [("aws:ResourceTag/app", "c"), ("aws:SecureTransport", "false")]:
        assert result([doc(both)], "ec2:RunInstances", "arn:x", {**good, key: value}) == (
            IMPLICIT_DENY
        )


def test_the_tls_only_bucket_policy_denies_plain_http_and_allows_nothing_by_itself():
    bucket_policy = doc(
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    identity = [doc(allow("s3:GetObject", f"{BUCKET}/*"))]
    tls, plain = {"aws:SecureTransport": "true"}, {"aws:SecureTransport": "false"}
    kwargs = {"resource_policy": bucket_policy, "caller": ROLE}
    assert result(identity, "s3:GetObject", OBJECT, tls, **kwargs) == ALLOWED
    assert result(identity, "s3:GetObject", OBJECT, plain, **kwargs) == EXPLICIT_DENY
    assert result([], "s3:GetObject", OBJECT, tls, **kwargs) == IMPLICIT_DENY


def test_a_resource_policy_allow_for_the_account_suffices_in_the_same_account():
    bucket_policy = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "s3:GetObject",
            "Resource": f"{BUCKET}/*",
        }
    )
    kwargs = {"resource_policy": bucket_policy}
    assert result([], "s3:GetObject", OBJECT, caller=ROLE, **kwargs) == ALLOWED
    other = "arn:aws:iam::999988887777:role/x"
    assert result([], "s3:GetObject", OBJECT, caller=other, **kwargs) == IMPLICIT_DENY


def test_arn_like_compares_part_by_part():
    cond = {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:111122223333:rule/pipekit-*"}}
    policy = [doc(allow("codepipeline:StartPipelineExecution", "*", Condition=cond))]
    rule = "arn:aws:events:eu-west-1:111122223333:rule/pipekit-dev-push"
    assert result(policy, "codepipeline:StartPipelineExecution", "arn:p", {"aws:SourceArn": rule})
    wrong = rule.replace("111122223333", "999988887777")
    assert (
        result(policy, "codepipeline:StartPipelineExecution", "arn:p", {"aws:SourceArn": wrong})
        == IMPLICIT_DENY
    )


def test_unknown_operators_and_elements_are_refused_not_guessed():
    with pytest.raises(UnsupportedPolicy, match="IpAddress"):
        evaluate(
            [doc(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))],
            "s3:GetObject",
            OBJECT,
        )
    with pytest.raises(UnsupportedPolicy, match="Pricipal"):
        evaluate([doc({**allow("s3:*"), "Pricipal": "*"})], "s3:GetObject", OBJECT)


def test_documents_load_from_iams_url_encoded_json():
    document = doc(allow("s3:GetObject", OBJECT))
    assert load_document(quote(json.dumps(document))) == document
    assert load_document(json.dumps(document)) == document


def test_the_denial_reads_as_aws_words_it():
    implicit = evaluate([], "s3:PutObjectAcl", OBJECT)
    assert access_denied_message(ROLE, "s3:PutObjectAcl", OBJECT, implicit) == (
        f"User: {ROLE} is not authorized to perform: s3:PutObjectAcl on resource: {OBJECT} "
        "because no identity-based policy allows the s3:PutObjectAcl action"
    )
    explicit = evaluate([doc(deny("s3:*"))], "s3:PutObject", OBJECT)
    assert access_denied_message(ROLE, "s3:PutObject", OBJECT, explicit).endswith(
        "with an explicit deny in an identity-based policy"
    )
