"""The sync agent: sources, plan (a pure diff), push to any SCIM 2.0 server."""
