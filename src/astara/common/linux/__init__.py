"""Linux host networking the orchestrator does itself: interface drivers and netlink."""
