"""The tables of the single-host network model.

One row per Neutron resource, plus one row per allocated address
(:class:`IPAllocation`): the unique constraint on (subnet, address) is what
makes a double allocation impossible even if a bug slipped past the allocator.
Router membership is not stored twice: a router's gateway and interfaces are
the ports whose ``device_id`` is the router and whose ``device_owner`` says
which role they play, exactly as in Neutron.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    relationship,
)

ROUTER_GATEWAY = "network:router_gateway"
ROUTER_INTERFACE = "network:router_interface"
FLOATING_IP = "network:floatingip"
#: Ports that belong to a router or a floating IP and are managed through them.
ROUTER_OWNED = frozenset({ROUTER_GATEWAY, ROUTER_INTERFACE, FLOATING_IP})


#: ``Session.info`` key of the prefix a store puts at the start of every new id.
ID_PREFIX_KEY = "astara.id_prefix"
#: An id prefix fits in a UUID's first group, so ids keep the UUID's shape.
ID_PREFIX_PATTERN = re.compile(r"[a-z0-9]{0,8}")


def new_id(session: Session) -> str:
    """A UUID for a new resource, its start replaced by the store's id prefix, if any.

    A prefix lets every name Astara derives from an id (``ak-router-<id>``,
    ``brq<id>``, ``tap<id>``) carry a mark, so whoever made the resources can
    tell them apart from other installations' on the same host.
    """
    prefix: str = session.info.get(ID_PREFIX_KEY, "")
    return prefix + str(uuid.uuid4())[len(prefix) :]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class StandardAttributes:
    """The columns every Neutron resource has (id, owner, timestamps, revision).

    ``revision_number`` is SQLAlchemy's version counter, so it goes up on
    every update without each service remembering to bump it.
    """

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    revision_number: Mapped[int] = mapped_column(Integer)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.revision_number}


class Network(StandardAttributes, Base):
    __tablename__ = "networks"

    admin_state_up: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(default=False)
    external: Mapped[bool] = mapped_column(default=False)
    mtu: Mapped[int] = mapped_column(default=1500)
    port_security_enabled: Mapped[bool] = mapped_column(default=True)

    subnets: Mapped[list[Subnet]] = relationship(
        back_populates="network", cascade="all, delete-orphan", order_by="Subnet.created_at"
    )
    ports: Mapped[list[Port]] = relationship(back_populates="network")


class Subnet(StandardAttributes, Base):
    __tablename__ = "subnets"

    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    ip_version: Mapped[int]
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(default=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32))
    #: [{"start": ip, "end": ip}, ...] in Neutron's request and response shape.
    allocation_pools: Mapped[list[Any]]
    dns_nameservers: Mapped[list[Any]]
    #: [{"destination": cidr, "nexthop": ip}, ...]
    host_routes: Mapped[list[Any]]

    network: Mapped[Network] = relationship(back_populates="subnets")


class Port(StandardAttributes, Base):
    __tablename__ = "ports"

    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32), unique=True)
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    port_security_enabled: Mapped[bool] = mapped_column(default=True)
    security_groups: Mapped[list[Any]]
    host_id: Mapped[str] = mapped_column(String(255), default="")

    network: Mapped[Network] = relationship(back_populates="ports")
    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        back_populates="port", cascade="all, delete-orphan", order_by="IPAllocation.position"
    )


class IPAllocation(Base):
    """One address of one port; the unique key forbids handing it out twice."""

    __tablename__ = "ip_allocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"))
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id"), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))
    #: Keeps fixed_ips in the order the client asked for them.
    position: Mapped[int] = mapped_column(default=0)

    port: Mapped[Port] = relationship(back_populates="fixed_ips")


class Router(StandardAttributes, Base):
    __tablename__ = "routers"

    admin_state_up: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    ha: Mapped[bool] = mapped_column(default=False)
    enable_snat: Mapped[bool] = mapped_column(default=True)
    #: [{"destination": cidr, "nexthop": ip}, ...] (extraroute)
    routes: Mapped[list[Any]]


class FloatingIP(StandardAttributes, Base):
    __tablename__ = "floatingips"

    floating_network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"))
    #: The port on the external network that holds the floating address.
    floating_port_id: Mapped[str] = mapped_column(ForeignKey("ports.id"))
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    fixed_port_id: Mapped[str | None] = mapped_column(ForeignKey("ports.id"), index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64))
    router_id: Mapped[str | None] = mapped_column(ForeignKey("routers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
