"""IAM statements on S3 key prefixes, each acknowledged for cdk-nag where it is written.

A prefix grant (`lake/sales/*`) is the narrowest S3 permission there is, yet cdk-nag reports every
`*` in a resource. Writing the statement and its acknowledgement in one call keeps each wildcard next
to the reason it is needed, on the one role that has it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.nag import acknowledge_wildcards, nag_arn

#: Why the KMS actions of CDK's grant helpers end in `*`, for roles that get such a grant.
KMS_GRANT_REASON = (
    "Added by CDK's grant for a resource encrypted with the lakewatch key; the statement is limited to that "
    "one key's ARN and the wildcard only spans the GenerateDataKey/ReEncrypt variants."
)


def allow_objects(role: iam.IRole, bucket: s3.IBucket, actions: Sequence[str], key_pattern: str, why: str) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(key_pattern)])
    )
    acknowledge_wildcards(role, {f"Resource::{nag_arn(bucket, consumer=role)}/{key_pattern}": why})


#: The wildcard actions of CDK's KMS grants: encrypt grants carry both, a publish to an encrypted topic only the first.
KMS_GRANT_WILDCARDS = ("kms:GenerateDataKey*", "kms:ReEncrypt*")


def acknowledge_kms_grant_wildcards(role: iam.IRole, actions: Sequence[str] = KMS_GRANT_WILDCARDS) -> None:
    """Acknowledge exactly the KMS wildcard `actions` the role's grants gave it (a test refuses stale ones)."""
    acknowledge_wildcards(role, {f"Action::{action}": KMS_GRANT_REASON for action in actions})


def allow_secret_read(role: iam.IRole, secret: secretsmanager.ISecret, key: kms.IKey) -> None:
    """What `secret.grant_read` grants, on the role only.

    `grant_read` would also add the role to the key's resource policy (decrypt via Secrets Manager), which
    makes the storage stack reference a pipeline role: a cross-stack cycle. The role's own policy, with
    the same `kms:ViaService` condition, is enough within one account.
    """
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], resources=[secret.secret_arn]
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt"],
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}},
        )
    )


def default_policy(role: iam.Role) -> Construct:
    """The role's inline policy: what a resource that checks its role's permissions on creation must wait for."""
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is None:
        raise ValueError(f"{role.node.path} has no inline policy yet")
    return policy
