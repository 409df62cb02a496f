//! The Kubernetes REST API over the store: resource registry, handlers, watch, patch, validation, admission, authn/authz, discovery, OpenAPI and TLS. Filled by the API server issue.
