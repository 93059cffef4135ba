//! csp-app
