"""The OpenID Provider: grants, tokens, JWKS, sessions, logout, DPoP."""
