"""Users, groups and memberships: the directory both SCIM and OIDC read."""
