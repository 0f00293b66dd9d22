"""The SSF 1.0 transmitter over HTTP: discovery, stream management, RFC 8935 push and
RFC 8936 poll delivery."""
