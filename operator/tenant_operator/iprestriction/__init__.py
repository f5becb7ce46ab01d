"""The IpRestriction kind: allowed addresses and ranges and a block list, IPv4 and IPv6, for one tenant."""
