"""Neutron plugins for a cloud whose L3, DHCP and metadata are served by Astara."""
