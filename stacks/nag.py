"""cdk-nag acknowledgements: always on one named construct, always with the reason written down.

cdk-nag 3 reads CDK's native `Validations.of(construct).acknowledge(...)`; a finding on a resource is
acknowledged when the resource or one of its scopes carries the rule id. Wildcard IAM findings are
acknowledged one by one (`AwsSolutions-IAM5[Resource::...]`), never as a blanket rule id.
"""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, CfnElement, Names, Stack, Validations
from constructs import Construct, IConstruct, RootConstruct


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
    as JSON. CDK creates that output later (while resolving references), at `Publish/Output<reference>` under
    the producer stack, and names it with the construct's unique id; the same public `Names.unique_id` of
    that path, modelled in a scratch construct tree, gives the name now. Should CDK ever name it
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
    output_name = _unique_id_of_path("Publish", f"Output{reference}")
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


def _unique_id_of_path(*construct_ids: str) -> str:
    """`Names.unique_id` of a construct at `construct_ids` below a stack (the stack itself not counted)."""
    scope: Construct = RootConstruct("")
    for construct_id in construct_ids:
        scope = Construct(scope, construct_id)
    return Names.unique_id(scope)
