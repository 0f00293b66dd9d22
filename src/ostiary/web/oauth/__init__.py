"""OAuth 2.0 / OpenID Connect endpoints: discovery, JWKS, token, resource-server checks."""
