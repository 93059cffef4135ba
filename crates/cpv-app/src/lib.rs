//! cpv-app
