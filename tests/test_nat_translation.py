"""The one decision v4 internet mode adds: which peer a guide row is rendered with when the
packet crosses NAT to a public address (circleci_network.model.nat_translation)."""

from __future__ import annotations

import pytest

from circleci_network import HardeningOptions, active_rules
from circleci_network.errors import ConfigurationError
from circleci_network.model.nat_translation import NatTranslation, PublicAddress, rendered_peer
from circleci_network.model.roles import OutsidePeer, Role
from circleci_network.model.rules import TrafficRule
from circleci_network.model.server_versions import ServerVersion, ServerVersionId

PROXY = (PublicAddress("proxy-a", "198.51.100.7/32"),)
NAT = (PublicAddress("nat-a", "203.0.113.9/32"),)
AWS = NatTranslation({Role.PROXY_LB: PROXY}, frozenset({Role.NOMAD_CLIENTS, Role.KUBERNETES_NODES}), NAT)
GCP = NatTranslation(
    {Role.PROXY_LB: PROXY}, frozenset({Role.NOMAD_CLIENTS}), NAT, receivers=frozenset({Role.KUBERNETES_NODES})
)


def _rules(transparent: bool) -> dict[str, TrafficRule]:
    rules = active_rules(
        HardeningOptions(),
        transparent_load_balancers=transparent,
        server_version=ServerVersion(ServerVersionId.V4_3, proxy_job_ports=True),
    )
    return {r.rule_id: r for r in rules}


def test_only_the_rows_between_nat_and_the_public_proxy_change_their_peer() -> None:
    rules = _rules(transparent=False)
    changed = {rule_id: rendered_peer(r, AWS) for rule_id, r in rules.items() if rendered_peer(r, AWS) != r.peer}
    assert changed == {
        "nomad-clients-out-4647-circleci-proxy": OutsidePeer.PROXY_PUBLIC_ADDRESSES,
        "nomad-clients-out-3000-circleci-proxy": OutsidePeer.PROXY_PUBLIC_ADDRESSES,
        "nomad-clients-out-8585-circleci-proxy": OutsidePeer.PROXY_PUBLIC_ADDRESSES,
        "circleci-proxy-in-4647": OutsidePeer.NAT_ADDRESSES,
        "circleci-proxy-in-3000": OutsidePeer.NAT_ADDRESSES,
        "circleci-proxy-in-8585": OutsidePeer.NAT_ADDRESSES,
    }
    # The proxy's own traffic to the nodes stays inside: by identity.
    assert rendered_peer(rules["circleci-proxy-out-node-ports"], AWS) is Role.KUBERNETES_NODES
    assert all(rendered_peer(r, None) == r.peer for r in rules.values())


def test_a_transparent_proxys_rows_on_the_nodes_admit_the_nat_addresses() -> None:
    rules = _rules(transparent=True)
    via = rules["k8s-nodes-in-via-circleci-proxy-in-4647"]
    assert rendered_peer(via, GCP) is OutsidePeer.NAT_ADDRESSES
    assert rendered_peer(rules["k8s-nodes-in-all-from-k8s-nodes"], GCP) is Role.KUBERNETES_NODES
    assert GCP.peer_cidrs() == {
        OutsidePeer.PROXY_PUBLIC_ADDRESSES: ("198.51.100.7/32",),
        OutsidePeer.NAT_ADDRESSES: ("203.0.113.9/32",),
    }
    assert GCP.labels() == {"198.51.100.7/32": "proxy-a", "203.0.113.9/32": "nat-a"}


def test_the_new_peers_are_never_the_options() -> None:
    options = HardeningOptions()
    assert options.cidrs_for(OutsidePeer.NAT_ADDRESSES) is None
    assert options.peer_cidrs(OutsidePeer.NAT_ADDRESSES, GCP.peer_cidrs()) == ("203.0.113.9/32",)


def test_props_refuse_anything_but_a_nat_translation() -> None:
    from circleci_network.aws.security_groups import SecurityGroupProps
    from circleci_network.gcp.firewall import FirewallProps

    with pytest.raises(ConfigurationError) as error:
        SecurityGroupProps(vpc_id="vpc-0123456789abcdef0", dns_resolver_cidrs=("10.0.0.2/32",), nat_translation={})  # type: ignore[arg-type]
    assert error.value.field == "SecurityGroupProps.nat_translation"
    with pytest.raises(ConfigurationError) as error:
        FirewallProps(
            project="acme-circleci",
            network_id="net",
            service_account_emails={},
            tags={},
            nat_translation=("203.0.113.9/32",),  # type: ignore[arg-type]
        )
    assert error.value.field == "FirewallProps.nat_translation"


def test_public_addresses_without_nat_addresses_are_refused() -> None:
    with pytest.raises(ConfigurationError) as error:
        NatTranslation({Role.PROXY_LB: PROXY}, frozenset({Role.NOMAD_CLIENTS}), ())
    assert error.value.field == "NatTranslation.nat_addresses"
    assert NatTranslation().peer_cidrs() == {OutsidePeer.PROXY_PUBLIC_ADDRESSES: (), OutsidePeer.NAT_ADDRESSES: ()}
