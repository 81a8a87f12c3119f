"""Request bodies, validated the way Neutron validates them.

Each resource has an ``...Update`` model (what PUT may change) and a
``...Create`` model that adds what only POST may set, so an attribute is
declared once. Unknown attributes are refused rather than silently dropped:
a typo must not create a resource the client did not ask for.
:func:`parse` turns pydantic's complaints into Neutron's 400 messages.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from astara.localapi.errors import BadRequest

Ipv6Mode = Literal["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]
RouterStatus = Literal["ACTIVE", "BUILD", "DOWN", "ERROR"]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def given(self) -> dict[str, Any]:
        """The attributes the client sent, by their Python names."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class Owned(RequestBody):
    """Admins (every caller in noauth mode) may create resources for another project."""

    tenant_id: str | None = None
    project_id: str | None = None

    def owner(self, default: str) -> str:
        if self.tenant_id and self.project_id and self.tenant_id != self.project_id:
            raise BadRequest("'project_id' and 'tenant_id' do not match.")
        return self.project_id or self.tenant_id or default


class NetworkUpdate(RequestBody):
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    shared: bool = False
    external: bool = Field(False, alias="router:external")
    mtu: int = Field(1500, ge=68, le=65535)
    port_security_enabled: bool = True


class NetworkCreate(NetworkUpdate, Owned):
    pass


class AllocationPool(RequestBody):
    start: str
    end: str


class Route(RequestBody):
    destination: str
    nexthop: str


class SubnetUpdate(RequestBody):
    name: str = ""
    description: str = ""
    gateway_ip: str | None = None
    allocation_pools: list[AllocationPool] = Field(default_factory=list)
    dns_nameservers: list[str] = Field(default_factory=list)
    host_routes: list[Route] = Field(default_factory=list)
    enable_dhcp: bool = True


class SubnetCreate(SubnetUpdate, Owned):
    network_id: str
    cidr: str
    ip_version: Literal[4, 6] | None = None
    ipv6_ra_mode: Ipv6Mode | None = None
    ipv6_address_mode: Ipv6Mode | None = None


class FixedIP(RequestBody):
    subnet_id: str | None = None
    ip_address: str | None = None


class PortUpdate(RequestBody):
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    device_id: str = ""
    device_owner: str = ""
    fixed_ips: list[FixedIP] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    port_security_enabled: bool = True
    host_id: str = Field("", alias="binding:host_id")


class PortCreate(PortUpdate, Owned):
    network_id: str
    mac_address: str | None = None


class GatewayInfo(RequestBody):
    network_id: str | None = None
    enable_snat: bool = True
    external_fixed_ips: list[FixedIP] = Field(default_factory=list)


class RouterUpdate(RequestBody):
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    external_gateway_info: GatewayInfo | None = None
    routes: list[Route] = Field(default_factory=list)
    ha: bool = False


class RouterCreate(RouterUpdate, Owned):
    pass


class RouterInterface(RequestBody):
    subnet_id: str | None = None
    port_id: str | None = None


class FloatingIPUpdate(RequestBody):
    description: str = ""
    port_id: str | None = None
    fixed_ip_address: str | None = None


class FloatingIPCreate(FloatingIPUpdate, Owned):
    floating_network_id: str
    floating_ip_address: str | None = None
    subnet_id: str | None = None


class RouterStatusUpdate(RequestBody):
    status: RouterStatus


Model = TypeVar("Model", bound=RequestBody)


def unwrap(body: Any, resource: str) -> Any:
    """The resource's attributes from a ``{"<resource>": {...}}`` request body."""
    if not isinstance(body, dict) or resource not in body:
        raise BadRequest(f"Unable to find '{resource}' in request body")
    return body[resource]


def parse(model: type[Model], attributes: Any, read_only: type[RequestBody] | None = None) -> Model:
    """Validate ``attributes`` against ``model`` or raise a Neutron 400.

    ``read_only`` is the create model of an update: attributes it knows but
    ``model`` does not are reported as read-only, not as unknown.
    """
    if not isinstance(attributes, dict):
        raise BadRequest("Request body attributes must be a JSON object.")
    try:
        return model.model_validate(attributes)
    except ValidationError as error:
        raise BadRequest(_describe(error, read_only)) from None


def _describe(error: ValidationError, read_only: type[RequestBody] | None) -> str:
    writable_later = _attribute_names(read_only) if read_only else set()
    unknown = [str(item["loc"][0]) for item in error.errors() if item["type"] == "extra_forbidden"]
    if unknown:
        if all(name in writable_later for name in unknown):
            return f"Cannot update read-only attribute(s) {', '.join(unknown)}"
        return f"Unrecognized attribute(s) '{', '.join(unknown)}'"
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"Failed to parse request. Required attribute '{location}' not specified"
    return f"Invalid input for {location}. Reason: {first['msg']}."


def _attribute_names(model: type[RequestBody]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}
