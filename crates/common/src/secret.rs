//! Secret values: refresh and access tokens, authorization codes, client secrets, private keys.
//!
//! Every type here wraps a [`secrecy::SecretString`], so the value is zeroised on drop and never
//! printed: `Debug` shows `RefreshToken([redacted])`, `Display` shows `[redacted]`. The value is
//! reachable only through [`ExposeSecret::expose_secret`], which the code calls exactly where a
//! header, a form body or a vault payload is built. None of the types implements `Serialize`, so a
//! secret cannot slip into a JSON log line or a rendered page by accident.
//!
//! Values sit behind an `Arc`, so cloning one (a cache hit hands out a clone of the cached access
//! token) costs a reference-count increment rather than a copy and a wipe of ~1.5 KB; the value is
//! zeroised when its last clone is dropped.

use std::fmt;
use std::sync::Arc;

pub use secrecy::ExposeSecret;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Arc<SecretString>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Arc::new(SecretString::from(value.into())))
            }

            /// Length of the secret in bytes (safe to log: it tells nothing about the value).
            pub fn len(&self) -> usize {
                self.0.expose_secret().len()
            }

            /// Whether the secret is the empty string.
            pub fn is_empty(&self) -> bool {
                self.0.expose_secret().is_empty()
            }
        }

        impl ExposeSecret<str> for $name {
            fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }

        impl PartialEq for $name {
            /// Constant-time comparison, so comparing secrets leaks no timing information.
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.expose_secret().as_bytes(), other.expose_secret().as_bytes())
            }
        }

        impl Eq for $name {}
    };
}

secret_type!(
    /// An Entra ID refresh token: the partner's long-lived delegated grant (90 days of inactivity).
    RefreshToken
);
secret_type!(
    /// A bearer access token for Partner Center, the Partner API, Microsoft Graph or Key Vault.
    AccessToken
);
secret_type!(
    /// A one-time OAuth 2.0 authorization code returned to the consent app's redirect URL.
    AuthCode
);
secret_type!(
    /// An application's client secret (password credential).
    ClientSecret
);
secret_type!(
    /// A PEM-encoded private key (PKCS#8 or PKCS#1) of a certificate credential.
    PrivateKeyPem
);
secret_type!(
    /// A PKCE code verifier (RFC 7636 §4.1): it proves possession of the authorization request.
    CodeVerifier
);
secret_type!(
    /// A password (PKCS#12 file password, key-file passphrase).
    Password
);
secret_type!(
    /// A signed client assertion JWT (RFC 7523): a bearer credential for about ten minutes.
    ClientAssertion
);

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "0.AAAA-super-secret-value-1234567890";

    #[test]
    fn debug_and_display_never_show_the_value() {
        let rt = RefreshToken::new(VALUE);
        assert_eq!(format!("{rt:?}"), "RefreshToken([redacted])");
        assert_eq!(format!("{rt}"), "[redacted]");
        assert_eq!(
            format!("{:?}", AccessToken::new(VALUE)),
            "AccessToken([redacted])"
        );
        assert_eq!(
            format!("{:?}", AuthCode::new(VALUE)),
            "AuthCode([redacted])"
        );
        assert_eq!(
            format!("{:?}", ClientSecret::new(VALUE)),
            "ClientSecret([redacted])"
        );
        assert_eq!(
            format!("{:?}", PrivateKeyPem::new(VALUE)),
            "PrivateKeyPem([redacted])"
        );
        assert_eq!(
            format!("{:#?}", CodeVerifier::new(VALUE)),
            "CodeVerifier([redacted])"
        );
    }

    #[test]
    fn a_struct_holding_a_secret_debug_prints_without_the_value() {
        #[derive(Debug)]
        #[expect(dead_code, reason = "only Debug output is under test")]
        struct Holder {
            tenant: &'static str,
            token: RefreshToken,
        }
        let printed = format!(
            "{:?}",
            Holder {
                tenant: "contoso",
                token: RefreshToken::new(VALUE)
            }
        );
        assert!(printed.contains("contoso"));
        assert!(!printed.contains(VALUE), "secret leaked: {printed}");
    }

    #[test]
    fn value_is_reachable_only_through_expose_secret() {
        let secret = ClientSecret::new(VALUE);
        assert_eq!(secret.expose_secret(), VALUE);
        assert_eq!(secret.len(), VALUE.len());
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let secret: ClientSecret = serde_json::from_str(&format!("\"{VALUE}\"")).unwrap();
        assert_eq!(secret.expose_secret(), VALUE);
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(RefreshToken::new("a"), RefreshToken::new("a"));
        assert_ne!(RefreshToken::new("a"), RefreshToken::new("b"));
        assert_ne!(RefreshToken::new("a"), RefreshToken::new("ab"));
    }
}
