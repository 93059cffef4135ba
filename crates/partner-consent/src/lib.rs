//! partner-consent
