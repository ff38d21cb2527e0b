"""cdk-nag acknowledgements: always on one named construct, always with the reason written down.

cdk-nag 3 reads CDK's native `Validations.of(construct).acknowledge(...)`; a finding on a resource is
acknowledged when the resource or one of its scopes carries the rule id. Wildcard IAM findings are
acknowledged one by one (`AwsSolutions-IAM5[Resource::...]`), never as a blanket rule id.
"""

from __future__ import annotations

import hashlib
import json
import re

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def acknowledge_wildcards(construct: IConstruct, findings: dict[str, str]) -> None:
    """Acknowledge `AwsSolutions-IAM5` findings: `{"Resource::<Bucket.Arn>/quarantine/*": "why", ...}`."""
    for finding, reason in findings.items():
        acknowledge(construct, f"AwsSolutions-IAM5[{finding}]", reason)


def nag_arn(resource: IConstruct, *, consumer: IConstruct) -> str:
    """How cdk-nag prints the `Arn` of `resource` in a finding on a policy that lives in `consumer`'s stack.

    In its own stack it is `<LogicalId.Arn>`. From another stack, cdk-nag runs after CDK has turned the
    reference into a weak cross-stack reference (`@aws-cdk/core:defaultCrossStackReferences: weak` in
    cdk.json): `Fn::GetStackOutput` of the output CDK publishes in the producer stack, which cdk-nag prints
    as JSON. The output's name is CDK's unique id of `Publish/Output<reference>`. Should CDK ever name it
    differently, synth fails and cdk-nag prints the exact id to acknowledge, so this cannot drift silently.
    """
    cfn = resource.node.default_child
    if not isinstance(cfn, CfnElement):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource")
    producer = Stack.of(cfn)
    logical_id = producer.get_logical_id(cfn)
    if producer is Stack.of(consumer):
        return f"<{logical_id}.Arn>"
    reference = _compact_json({"Fn::GetAtt": [logical_id, "Arn"]})
    output_name = _unique_id(["Publish", f"Output{reference}"])
    return _compact_json(
        {
            "Fn::GetStackOutput": {
                "StackName": producer.stack_name,
                "Region": producer.resolve(producer.region),
                "OutputName": output_name,
            }
        }
    )


def _compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _unique_id(components: list[str]) -> str:
    """CDK's `makeUniqueId`: the alphanumeric path plus the first 8 hex digits of the path's MD5."""
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()[:8].upper()
    return "".join(re.sub(r"[^A-Za-z0-9]", "", component) for component in components) + digest
