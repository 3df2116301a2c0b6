"""A real `terraform apply` of the reference AWS stack against moto_server, read back with
boto3 and compared with the rule model; then a second plan, a destroy, and a check that
nothing is left behind.

moto is not AWS. Where it differs, the difference is named below and checked precisely
where it shows, so a new difference fails the test instead of being waved through.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from circleci_network.model.intent import INTENT_LOCAL, NetworkIntent
from circleci_network.model.options import HardeningOptions
from circleci_network.model.ports import Port, Protocol
from circleci_network.model.roles import INTERNET_FACING_LOAD_BALANCERS, LOAD_BALANCERS, OutsidePeer, Role
from circleci_network.model.rules import CustomPeer, TrafficRule, active_rules, load_balancer_ports, roles_in
from tests.tools.terraform import WorkingCopy, find_mirror, terraform_binary
from tests.tools.tooling import load_json

pytestmark = pytest.mark.tools

#: Every AWS API the stack calls (data sources included: sts for aws_caller_identity).
SERVICES = ("ec2", "elbv2", "iam", "kms", "logs", "sts")
SG_RULE_TYPES = ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")

# moto 5.2.1 quirks (measured; real AWS behaves as the library expects):
#: Rules that reference a group read back no ``description`` (moto's DescribeSecurityGroupRules
#: takes it from the CIDR part of a rule only), so a second plan sets the description again.
QUIRK_SG_REFERENCE_DESCRIPTION_DROPPED = "description null -> configured, on group-referencing rules"
#: ModifySecurityGroupRules rejects protocol -1 ("Must specify both from and to ports"), so
#: an apply that tries to undo the quirk above fails on the all-traffic rules.
QUIRK_MODIFY_ALL_PROTOCOL_RULE_REJECTED = "ModifySecurityGroupRules with IpProtocol -1 -> InvalidParameterValue"
#: A flow log given its log group by ARN (``log_destination``) reports DeliverLogsStatus FAILED,
#: "Access error": moto looks the group up by ``log_group_name``, which is then unset.
QUIRK_FLOW_LOG_DELIVERY_STATUS = ("FAILED", "Access error")
#: moto deletes load balancers whose deletion protection is on; AWS refuses. The destroy
#: below turns protection off first, as a user must on AWS.
QUIRK_DELETION_PROTECTION_NOT_ENFORCED = "DeleteLoadBalancer ignores deletion_protection.enabled"
#: moto keeps a deleted NAT gateway's network interface; AWS releases it with the gateway.
QUIRK_NAT_GATEWAY_INTERFACES_KEPT = "network interfaces of deleted NAT gateways remain"
#: moto keeps a deleted VPC's default network ACL; AWS deletes it with the VPC.
QUIRK_DEFAULT_NETWORK_ACL_KEPT = "default network ACL of a deleted VPC remains"
#: The provider sends Scheme only for internal load balancers; moto then reports no Scheme
#: where AWS reports its default, "internet-facing".
QUIRK_LB_DEFAULT_SCHEME_MISSING: tuple[str | None, ...] = ("internet-facing", None)


#: Where the destroy check sees each resource type the stack creates: the inventory kind
#: that holds it or its parent. A type the stack gains must be added here.
GONE_WITH = {
    "aws_vpc": "vpcs",
    "aws_default_security_group": "vpcs",  # the VPC's own group goes with the VPC
    "aws_default_network_acl": "vpcs",
    "aws_subnet": "subnets",
    "aws_route_table": "route_tables",
    "aws_route": "route_tables",
    "aws_route_table_association": "route_tables",
    "aws_network_acl": "network_acls",
    "aws_network_acl_rule": "network_acls",
    "aws_network_acl_association": "network_acls",
    "aws_security_group": "security_groups",
    "aws_vpc_security_group_ingress_rule": "security_group_rules",
    "aws_vpc_security_group_egress_rule": "security_group_rules",
    "aws_internet_gateway": "internet_gateways",
    "aws_nat_gateway": "nat_gateways",
    "aws_eip": "elastic_ips",
    "aws_flow_log": "flow_logs",
    "aws_cloudwatch_log_group": "log_groups",
    "aws_kms_key": "kms_keys",
    "aws_iam_role": "iam_roles",
    "aws_iam_role_policy": "iam_roles",
    "aws_lb": "load_balancers",
    "aws_lb_listener": "load_balancers",
    "aws_lb_target_group": "target_groups",
}


@dataclass(frozen=True)
class Aws:
    ec2: Any
    elbv2: Any
    iam: Any
    kms: Any
    logs: Any

    @staticmethod
    def at(endpoint: str, region: str) -> Aws:
        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=endpoint,
                region_name=region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        return Aws(client("ec2"), client("elbv2"), client("iam"), client("kms"), client("logs"))


def inventory(aws: Aws) -> dict[str, set[str]]:
    """Every resource id moto holds of the kinds the stack creates (live ones only: AWS too
    lists deleted NAT gateways for a while and keeps KMS keys pending deletion)."""
    ec2 = aws.ec2
    keys = {k["KeyId"] for k in aws.kms.list_keys()["Keys"]}
    return {
        "vpcs": {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]},
        "subnets": {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]},
        "route_tables": {t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]},
        "network_acls": {a["NetworkAclId"] for a in ec2.describe_network_acls()["NetworkAcls"]},
        "security_groups": {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]},
        "security_group_rules": {
            r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules()["SecurityGroupRules"]
        },
        "internet_gateways": {g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]},
        "nat_gateways": {
            n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"
        },
        "elastic_ips": {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]},
        "network_interfaces": {i["NetworkInterfaceId"] for i in ec2.describe_network_interfaces()["NetworkInterfaces"]},
        "flow_logs": {f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]},
        "load_balancers": {lb["LoadBalancerArn"] for lb in aws.elbv2.describe_load_balancers()["LoadBalancers"]},
        "target_groups": {t["TargetGroupArn"] for t in aws.elbv2.describe_target_groups()["TargetGroups"]},
        "log_groups": {g["logGroupName"] for g in aws.logs.describe_log_groups()["logGroups"]},
        "kms_keys": {k for k in keys if aws.kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] != "PendingDeletion"},
        "iam_roles": {r["RoleName"] for r in aws.iam.list_roles()["Roles"]},
    }


@dataclass
class Deployment:
    stack: dict[str, Any]
    tf: WorkingCopy
    aws: Aws
    before_apply: dict[str, set[str]]
    vpc_id: str

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.stack["resource"].get(kind, {})
        return found

    def only(self, kind: str) -> dict[str, Any]:
        (body,) = self.resources(kind).values()
        return body

    def vpc_filter(self) -> list[dict[str, Any]]:
        return [{"Name": "vpc-id", "Values": [self.vpc_id]}]

    def subnets(self) -> list[dict[str, Any]]:
        subnets: list[dict[str, Any]] = self.aws.ec2.describe_subnets(Filters=self.vpc_filter())["Subnets"]
        return subnets

    def our_groups(self) -> dict[str, Role]:
        """Security group id -> role, from the groups' circleci/role tags."""
        groups = self.aws.ec2.describe_security_groups(Filters=self.vpc_filter())["SecurityGroups"]
        return {g["GroupId"]: Role(tags(g)["circleci/role"]) for g in groups if "circleci/role" in tags(g)}


def tags(described: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in described.get("Tags") or described.get("TagSet") or []}


def moto_provider(endpoint: str, region: str) -> dict[str, Any]:
    return {
        "provider": {
            "aws": {
                "region": region,
                "access_key": "testing",
                "secret_key": "testing",
                "skip_credentials_validation": True,
                "skip_metadata_api_check": True,
                # Not skipped: without the account id the provider reads a same-account
                # referenced_security_group_id back as "<account>/sg-…" and plans a change,
                # against AWS as against moto (moto's STS answers GetCallerIdentity).
                "skip_requesting_account_id": False,
                "endpoints": [{service: endpoint for service in SERVICES}],
            }
        }
    }


@pytest.fixture(scope="module")
def deployment(
    synth_outdir: Path, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    stack_file = synth_outdir / "stacks" / "circleci-aws" / "cdk.tf.json"
    stack = load_json(stack_file)
    region = stack["provider"]["aws"][0]["region"]
    aws = Aws.at(moto_endpoint, region)
    before = inventory(aws)
    tf = WorkingCopy(stack_file, tmp_path_factory.mktemp("moto-deploy"), terraform_binary(), find_mirror())
    tf.write_override("verify_moto", moto_provider(moto_endpoint, region))
    tf("init", "-input=false", step="terraform init (moto)")
    tf("apply", "-auto-approve", "-input=false", "-parallelism=20", step="terraform apply (moto)", timeout=900)
    outputs = json.loads(tf("output", "-json").stdout)
    yield Deployment(stack, tf, aws, before, outputs["vpc-id"]["value"])


def test_vpc_and_subnets_are_the_synthesized_ones(deployment: Deployment) -> None:
    ec2 = deployment.aws.ec2
    (vpc,) = ec2.describe_vpcs(VpcIds=[deployment.vpc_id])["Vpcs"]
    assert vpc["CidrBlock"] == deployment.only("aws_vpc")["cidr_block"]
    for attribute, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        assert ec2.describe_vpc_attribute(VpcId=deployment.vpc_id, Attribute=attribute)[key]["Value"] is True
    real = {
        (tags(s)["circleci/tier"], s["AvailabilityZone"], s["CidrBlock"], s["MapPublicIpOnLaunch"])
        for s in deployment.subnets()
    }
    wanted = {
        (s["tags"]["circleci/tier"], s["availability_zone"], s["cidr_block"], s["map_public_ip_on_launch"])
        for s in deployment.resources("aws_subnet").values()
    }
    assert real == wanted and len(real) == len(deployment.subnets())
    assert {tier for tier, *_ in real} == {"public", "k8s-nodes", "nomad-clients", "external-vms"}
    assert not any(public_ip for *_, public_ip in real)


def test_public_subnets_route_to_the_internet_and_role_subnets_through_their_zones_nat(
    deployment: Deployment,
) -> None:
    ec2 = deployment.aws.ec2
    tables = ec2.describe_route_tables(Filters=deployment.vpc_filter())["RouteTables"]
    (igw,) = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [deployment.vpc_id]}])[
        "InternetGateways"
    ]
    nats = [
        n for n in ec2.describe_nat_gateways(Filter=deployment.vpc_filter())["NatGateways"] if n["State"] != "deleted"
    ]
    subnets = {s["SubnetId"]: s for s in deployment.subnets()}
    nat_zone = {n["NatGatewayId"]: subnets[n["SubnetId"]]["AvailabilityZone"] for n in nats}
    assert all(tags(subnets[n["SubnetId"]])["circleci/tier"] == "public" for n in nats)
    zones = {s["AvailabilityZone"] for s in subnets.values()}
    one_per_zone = len(nats) == len(zones)
    for subnet_id, subnet in subnets.items():
        associated = [t for t in tables if any(a.get("SubnetId") == subnet_id for a in t["Associations"])]
        assert len(associated) == 1, f"{subnet_id}: {len(associated)} route tables"
        routes = {r["DestinationCidrBlock"]: r for r in associated[0]["Routes"] if "DestinationCidrBlock" in r}
        assert set(routes) == {"0.0.0.0/0", deployment.only("aws_vpc")["cidr_block"]}
        default = routes["0.0.0.0/0"]
        if tags(subnet)["circleci/tier"] == "public":
            assert default.get("GatewayId") == igw["InternetGatewayId"]
        else:
            assert default.get("GatewayId") in (None, "") and default.get("NatGatewayId") in nat_zone
            if one_per_zone:
                assert nat_zone[default["NatGatewayId"]] == subnet["AvailabilityZone"]
    # a subnet that lost its association falls back to the main table: it must lead nowhere
    (main,) = [t for t in tables if any(a.get("Main") for a in t["Associations"])]
    assert [r.get("DestinationCidrBlock") for r in main["Routes"]] == [deployment.only("aws_vpc")["cidr_block"]]


RuleKey = tuple[str, str, str, int | None, int | None, str, str, str]


def _span(port: Port) -> tuple[str, int | None, int | None]:
    if port.protocol is Protocol.ALL:
        return "-1", None, None
    return port.protocol.value, port.from_port, port.to_port


def expected_rules(
    rules: tuple[TrafficRule, ...], deployment: Deployment, options: HardeningOptions
) -> Counter[RuleKey]:
    """The rule model rendered by hand: role peers by group, outside peers by CIDR."""
    vpc_cidr = ipaddress.ip_network(deployment.only("aws_vpc")["cidr_block"])
    lb_subnets = [s["CidrBlock"] for s in deployment.subnets() if tags(s)["circleci/tier"] in ("public", "k8s-nodes")]
    with_groups = set(roles_in(rules))
    expected: Counter[RuleKey] = Counter()
    for rule in rules:
        peer = rule.peer
        if isinstance(peer, Role) and peer in with_groups:
            peers = [f"sg:{peer.value}"]
        elif isinstance(peer, Role) or peer is OutsidePeer.LOAD_BALANCER_HEALTH_CHECKS:
            peers = [f"cidr:{c}" for c in lb_subnets]
        elif isinstance(peer, CustomPeer):
            peers = [f"cidr:{c}" for c in peer.cidrs]
        elif (given := options.cidrs_for(peer)) is not None:
            peers = [f"cidr:{c}" for c in given]
        else:  # the Amazon-provided DNS server: VPC base address + 2
            assert peer is OutsidePeer.DNS_RESOLVER
            peers = [f"cidr:{vpc_cidr.network_address + 2}/32"]
        for port in rule.ports:
            for p in peers:
                expected[(rule.role.value, rule.direction.value, *_span(port), p, rule.description, rule.rule_id)] += 1
    return expected


def real_rules(deployment: Deployment) -> Counter[RuleKey]:
    """Rules as AWS reports them: descriptions from the groups, circleci/rule tags from the rules."""
    ec2 = deployment.aws.ec2
    groups = deployment.our_groups()

    def peer(group_id: str | None, cidr: str | None) -> str:
        if group_id is not None:
            return f"sg:{groups[group_id].value}" if group_id in groups else f"foreign-sg:{group_id}"
        return f"cidr:{cidr}"

    def span(protocol: str, from_port: int | None, to_port: int | None) -> tuple[str, int | None, int | None]:
        return ("-1", None, None) if protocol == "-1" else (protocol, from_port, to_port)

    rule_tags: dict[tuple[str, str, str, int | None, int | None, str], list[str]] = {}
    listed = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": list(groups)}])
    for r in listed["SecurityGroupRules"]:
        direction = "egress" if r["IsEgress"] else "ingress"
        where = peer(r.get("ReferencedGroupInfo", {}).get("GroupId"), r.get("CidrIpv4"))
        key = (r["GroupId"], direction, *span(r["IpProtocol"], r.get("FromPort"), r.get("ToPort")), where)
        rule_tags.setdefault(key, []).append(tags(r).get("circleci/rule", "<untagged>"))
    real: Counter[RuleKey] = Counter()
    described = ec2.describe_security_groups(GroupIds=list(groups))["SecurityGroups"]
    for group in described:
        for direction, permissions in (("ingress", group["IpPermissions"]), ("egress", group["IpPermissionsEgress"])):
            for permission in permissions:
                proto = span(permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"))
                sources = [(pair["GroupId"], None, pair.get("Description")) for pair in permission["UserIdGroupPairs"]]
                sources += [(None, r["CidrIp"], r.get("Description")) for r in permission["IpRanges"]]
                sources += [(None, r["CidrIpv6"], r.get("Description")) for r in permission["Ipv6Ranges"]]
                sources += [(None, p["PrefixListId"], p.get("Description")) for p in permission["PrefixListIds"]]
                for group_id, cidr, description in sources:
                    where = peer(group_id, cidr)
                    tagged = rule_tags.get((group["GroupId"], direction, *proto, where)) or ["<no rule listed>"]
                    role = groups[group["GroupId"]].value
                    real[(role, direction, *proto, where, description or "<none>", tagged.pop(0))] += 1
    return real


def test_security_group_rules_are_exactly_the_rule_model(deployment: Deployment) -> None:
    (intent_json,) = [v for k, v in deployment.stack["locals"].items() if INTENT_LOCAL in k]
    intent = NetworkIntent.from_json(intent_json)
    rules = active_rules(intent.options)
    groups = deployment.our_groups()
    assert sorted(groups.values()) == sorted(roles_in(rules)), "one security group per role holding rules"
    expected, real = expected_rules(rules, deployment, intent.options), real_rules(deployment)
    missing, extra = expected - real, real - expected
    assert not missing and not extra, (
        "AWS differs from the rule model\nmissing:\n"
        + "\n".join(map(str, sorted(missing, key=str)))
        + "\nextra:\n"
        + "\n".join(map(str, sorted(extra, key=str)))
    )
    # the comparison sees a hand-made rule (then it is removed again)
    ec2 = deployment.aws.ec2
    (nomad_group,) = [g for g, role in groups.items() if role is Role.NOMAD_CLIENTS]
    hand_made = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=nomad_group, IpPermissions=[hand_made])
    try:
        assert real_rules(deployment) - expected == Counter(
            {("nomad-clients", "ingress", "tcp", 22, 22, "cidr:0.0.0.0/0", "<none>", "<untagged>"): 1}
        )
    finally:
        ec2.revoke_security_group_ingress(GroupId=nomad_group, IpPermissions=[hand_made])
    assert real_rules(deployment) == real
    # and the same rules, seen from the synthesized JSON's tags, are all deployed
    tagged = Counter(
        (r["tags"]["circleci/rule"]) for kind in SG_RULE_TYPES for r in deployment.resources(kind).values()
    )
    assert tagged == Counter(key[-1] for key in real)


def test_default_security_group_has_no_rules(deployment: Deployment) -> None:
    ec2 = deployment.aws.ec2
    filters = [*deployment.vpc_filter(), {"Name": "group-name", "Values": ["default"]}]
    (default,) = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    assert default["IpPermissions"] == [] and default["IpPermissionsEgress"] == []
    listed = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [default["GroupId"]]}])
    assert listed["SecurityGroupRules"] == []


def _lb_role_by_logical_id(deployment: Deployment) -> dict[str, str]:
    return {name: lb["tags"]["circleci/role"] for name, lb in deployment.resources("aws_lb").items()}


def _synthesized_listeners(deployment: Deployment) -> set[tuple[str, int, int]]:
    """(role, listener port, NodePort) as the JSON wires listeners to target groups."""
    roles = _lb_role_by_logical_id(deployment)
    groups = deployment.resources("aws_lb_target_group")
    wired = set()
    for listener in deployment.resources("aws_lb_listener").values():
        lb = listener["load_balancer_arn"].split(".")[1]
        (action,) = listener["default_action"]
        target_group = groups[action["target_group_arn"].split(".")[1]]
        wired.add((roles[lb], listener["port"], target_group["port"]))
    return wired


def test_network_load_balancers_match_the_model(deployment: Deployment) -> None:
    elbv2 = deployment.aws.elbv2
    lbs = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["VpcId"] == deployment.vpc_id]
    described_tags = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"] for lb in lbs])["TagDescriptions"]
    role_of = {d["ResourceArn"]: tags(d)["circleci/role"] for d in described_tags}
    assert sorted(role_of.values()) == sorted(r.value for r in LOAD_BALANCERS)
    groups = {role.value: group_id for group_id, role in deployment.our_groups().items()}
    tier_of = {s["SubnetId"]: tags(s)["circleci/tier"] for s in deployment.subnets()}
    synthesized = {lb["tags"]["circleci/role"]: lb for lb in deployment.resources("aws_lb").values()}
    wired: set[tuple[str, int, int]] = set()
    for lb in lbs:
        role = role_of[lb["LoadBalancerArn"]]
        internal = synthesized[role]["internal"]
        assert lb["Type"] == "network"
        if internal:
            assert lb.get("Scheme") == "internal"
        else:
            assert lb.get("Scheme") in QUIRK_LB_DEFAULT_SCHEME_MISSING
        assert internal or Role(role) in INTERNET_FACING_LOAD_BALANCERS
        assert {tier_of[z["SubnetId"]] for z in lb["AvailabilityZones"]} == {"k8s-nodes" if internal else "public"}
        assert lb["SecurityGroups"] == [groups[role]]
        attributes = {
            a["Key"]: a["Value"]
            for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
        }
        assert attributes["deletion_protection.enabled"] == "true"
        assert attributes["load_balancing.cross_zone.enabled"] == "true"
        listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        assert sorted(listener["Port"] for listener in listeners) == sorted(
            p.from_port for p in load_balancer_ports(Role(role))
        )
        for listener in listeners:
            assert listener["Protocol"] == "TCP"
            (action,) = listener["DefaultActions"]
            assert action["Type"] == "forward"
            (group,) = elbv2.describe_target_groups(TargetGroupArns=[action["TargetGroupArn"]])["TargetGroups"]
            assert (group["Protocol"], group["TargetType"], group["VpcId"]) == ("TCP", "instance", deployment.vpc_id)
            assert 30000 <= group["Port"] <= 32767
            wired.add((role, listener["Port"], group["Port"]))
    assert wired == _synthesized_listeners(deployment)


def test_flow_logs_go_to_the_encrypted_log_group(deployment: Deployment) -> None:
    aws = deployment.aws
    log_group_json = deployment.only("aws_cloudwatch_log_group")
    (group,) = aws.logs.describe_log_groups(logGroupNamePrefix=log_group_json["name"])["logGroups"]
    assert group["retentionInDays"] == log_group_json["retention_in_days"]
    key = aws.kms.describe_key(KeyId=group["kmsKeyId"])["KeyMetadata"]
    assert key["KeyState"] == "Enabled" and aws.kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
    policy = json.loads(aws.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    region = deployment.stack["provider"]["aws"][0]["region"]
    assert any(s.get("Principal", {}).get("Service") == f"logs.{region}.amazonaws.com" for s in policy["Statement"])

    role_name = deployment.only("aws_iam_role")["name"]
    role = aws.iam.get_role(RoleName=role_name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "vpc-flow-logs.amazonaws.com"}]

    (flow,) = aws.ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [deployment.vpc_id]}])["FlowLogs"]
    assert flow["TrafficType"] == "ALL" and flow["FlowLogStatus"] == "ACTIVE"
    assert flow["LogDestinationType"] == "cloud-watch-logs"
    assert flow["LogDestination"] == group["logGroupArn"]
    assert flow["DeliverLogsPermissionArn"] == role["Arn"]
    assert flow["MaxAggregationInterval"] == 60
    delivery = (flow.get("DeliverLogsStatus"), flow.get("DeliverLogsErrorMessage"))
    assert delivery in (("SUCCESS", None), QUIRK_FLOW_LOG_DELIVERY_STATUS), delivery


def _changed_attributes(change: dict[str, Any]) -> set[str]:
    before, after = change["before"] or {}, change["after"] or {}
    unknown = change.get("after_unknown") or {}
    return {k for k in before.keys() | after.keys() | unknown.keys() if before.get(k) != after.get(k) or unknown.get(k)}


def test_second_plan_changes_nothing_but_the_named_moto_quirk(deployment: Deployment) -> None:
    tf = deployment.tf
    result = tf(
        "plan",
        "-detailed-exitcode",
        "-input=false",
        "-out=second.tfplan",
        step="terraform plan (moto)",
        ok_codes=(0, 2),
    )
    plan = tf.show_plan("second.tfplan")
    changed = [c for c in plan.get("resource_changes", []) if c["change"]["actions"] != ["no-op"]]
    unexplained = []
    for c in changed:
        attributes = _changed_attributes(c["change"])
        before, after = c["change"]["before"], c["change"]["after"]
        quirk = (
            c["type"] in SG_RULE_TYPES
            and c["change"]["actions"] == ["update"]
            and attributes == {"description"}
            and before.get("referenced_security_group_id")
            and before["description"] in (None, "")
            and after["description"] == deployment.resources(c["type"])[c["name"]]["description"]
        )
        if not quirk:
            unexplained.append(f"{c['address']}: {c['change']['actions']} {sorted(attributes)}: {before} -> {after}")
    assert not unexplained, f"changes beyond {QUIRK_SG_REFERENCE_DESCRIPTION_DROPPED}:\n" + "\n".join(unexplained)
    assert all(o["actions"] == ["no-op"] for o in plan.get("output_changes", {}).values())
    assert (result.returncode == 0) == (not changed)


def test_destroy_leaves_nothing_behind(deployment: Deployment) -> None:
    """Runs last in this module (pytest keeps file order): it tears the deployment down."""
    aws, tf = deployment.aws, deployment.tf
    unchecked = set(deployment.stack["resource"]) - GONE_WITH.keys()
    assert not unchecked, f"add these resource types to GONE_WITH: {sorted(unchecked)}"
    nats = aws.ec2.describe_nat_gateways(Filter=deployment.vpc_filter())["NatGateways"]
    nat_interfaces = {a["NetworkInterfaceId"] for n in nats for a in n["NatGatewayAddresses"]}
    default_acl = [*deployment.vpc_filter(), {"Name": "default", "Values": ["true"]}]
    default_acls = {a["NetworkAclId"] for a in aws.ec2.describe_network_acls(Filters=default_acl)["NetworkAcls"]}
    key_id = aws.logs.describe_log_groups(logGroupNamePrefix=deployment.only("aws_cloudwatch_log_group")["name"])[
        "logGroups"
    ][0]["kmsKeyId"]
    # On AWS, deletion protection makes `destroy` fail: turn it off the way a user must
    # (moto would not refuse: QUIRK_DELETION_PROTECTION_NOT_ENFORCED). Targeted, so this apply
    # leaves the quirky rules alone (QUIRK_MODIFY_ALL_PROTOCOL_RULE_REJECTED).
    names = list(deployment.resources("aws_lb"))
    tf.write_override(
        "verify_unprotect", {"resource": {"aws_lb": {name: {"enable_deletion_protection": False} for name in names}}}
    )
    targets = [f"-target=aws_lb.{name}" for name in names]
    tf("apply", "-auto-approve", "-input=false", *targets, step="terraform apply (deletion protection off)")
    for lb in aws.elbv2.describe_load_balancers()["LoadBalancers"]:
        if lb["VpcId"] == deployment.vpc_id:
            attributes = aws.elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])[
                "Attributes"
            ]
            assert {"Key": "deletion_protection.enabled", "Value": "false"} in attributes
    tf("destroy", "-auto-approve", "-input=false", "-parallelism=20", step="terraform destroy (moto)", timeout=900)
    assert tf("state", "list").stdout.strip() == ""

    after = inventory(aws)
    left = {kind: ids - deployment.before_apply[kind] for kind, ids in after.items()}
    kept_interfaces, kept_acls = left.pop("network_interfaces"), left.pop("network_acls")
    assert kept_interfaces <= nat_interfaces, f"interfaces left besides {QUIRK_NAT_GATEWAY_INTERFACES_KEPT}"
    assert kept_acls <= default_acls, f"network ACLs left besides {QUIRK_DEFAULT_NETWORK_ACL_KEPT}"
    assert {kind: ids for kind, ids in left.items() if ids} == {}
    # AWS, too, only schedules a KMS key for deletion
    assert aws.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
