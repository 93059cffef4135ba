//! Enumerated settings: each enum lists its words once, in a table, and parsing (`FromStr`),
//! printing (`Display`), serde and the error text listing the accepted values all come from that
//! table. Nothing else spells the words out.

use std::fmt;

/// An enum written in configuration as one of a few words.
pub trait Words: Copy + PartialEq + Sized + 'static {
    /// What a value is, with its article, for error text: `"a cloud"`.
    const NOUN: &'static str;
    /// Each value with the spellings accepted for it (compared ignoring ASCII case and surrounding
    /// whitespace). The first spelling is the canonical one: written back, and listed in errors.
    const SPELLINGS: &'static [(Self, &'static [&'static str])];

    /// The canonical spelling.
    fn word(self) -> &'static str {
        Self::SPELLINGS
            .iter()
            .find(|(value, _)| *value == self)
            .and_then(|(_, spellings)| spellings.first().copied())
            .unwrap_or_default()
    }

    /// The canonical spellings of every value, in table order.
    fn accepted() -> impl Iterator<Item = &'static str> {
        Self::SPELLINGS
            .iter()
            .filter_map(|(_, spellings)| spellings.first().copied())
    }

    /// Parses any accepted spelling.
    fn parse_word(value: &str) -> Result<Self, UnknownWord> {
        let trimmed = value.trim();
        Self::SPELLINGS
            .iter()
            .find(|(_, spellings)| spellings.iter().any(|s| s.eq_ignore_ascii_case(trimmed)))
            .map(|(value, _)| *value)
            .ok_or_else(|| UnknownWord {
                value: trimmed.to_owned(),
                noun: Self::NOUN,
                accepted: Self::accepted().collect(),
            })
    }
}

/// A word that is none of an enum's spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}; {}", self.problem(), self.fix())]
pub struct UnknownWord {
    /// The value given (trimmed).
    pub value: String,
    /// What it should have been, e.g. `"a cloud"`.
    pub noun: &'static str,
    /// The canonical spellings accepted.
    pub accepted: Vec<&'static str>,
}

impl UnknownWord {
    /// `"mars" is not a cloud`.
    pub fn problem(&self) -> String {
        format!("{:?} is not {}", self.value, self.noun)
    }

    /// `use one of global, china, usgov, custom`.
    pub fn fix(&self) -> String {
        format!("use one of {}", self.accepted.join(", "))
    }
}

/// Writes the canonical spelling (the body of every `Display` impl generated below).
pub(crate) fn write_word<T: Words>(value: T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(value.word())
}

/// Implements `FromStr`, `Display`, `Serialize` and `Deserialize` of a [`Words`] enum through its
/// table.
macro_rules! impl_words {
    ($ty:ty) => {
        impl ::std::str::FromStr for $ty {
            type Err = $crate::config::UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty as $crate::config::Words>::parse_word(s)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                $crate::config::words::write_word(*self, f)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::config::Words::word(*self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                <$ty as $crate::config::Words>::parse_word(&text)
                    .map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use impl_words;

#[cfg(test)]
mod tests {
    use super::Words;
    use crate::cloud::CloudName;
    use crate::config::{
        AppMode, AssertionAlgorithm, EndpointVersion, KeyVaultIdentityKind, LogFormat, StoreKind,
    };

    #[test]
    fn words_parse_ignoring_case_and_print_canonically() {
        assert_eq!(" JSON ".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(LogFormat::Json.to_string(), "json");
        assert_eq!(
            "ps256".parse::<AssertionAlgorithm>(),
            Ok(AssertionAlgorithm::Ps256)
        );
        assert_eq!(AssertionAlgorithm::Rs256.to_string(), "RS256");
        assert_eq!("2.0".parse::<EndpointVersion>(), Ok(EndpointVersion::V2));
        assert_eq!("keyvault".parse::<StoreKind>(), Ok(StoreKind::KeyVault));
        assert_eq!(StoreKind::KeyVault.to_string(), "key-vault");
        assert_eq!("AzureChinaCloud".parse::<CloudName>(), Ok(CloudName::China));
        assert_eq!(
            KeyVaultIdentityKind::WorkloadIdentity.to_string(),
            "workload-identity"
        );
    }

    #[test]
    fn an_unknown_word_lists_the_accepted_values() {
        let e = "reseller".parse::<AppMode>().unwrap_err();
        assert_eq!(e.problem(), "\"reseller\" is not a mode");
        assert_eq!(e.fix(), "use one of csp, cpv");
        assert_eq!(
            "mars".parse::<CloudName>().unwrap_err().to_string(),
            "\"mars\" is not a cloud; use one of global, china, usgov, custom"
        );
    }

    #[test]
    fn serde_uses_the_same_words() {
        assert_eq!(serde_json::to_string(&LogFormat::Json).unwrap(), "\"json\"");
        let v: EndpointVersion = serde_json::from_str("\"V1\"").unwrap();
        assert_eq!(v, EndpointVersion::V1);
        let e = serde_json::from_str::<StoreKind>("\"dropbox\"").unwrap_err();
        assert!(e.to_string().contains("use one of local, key-vault"), "{e}");
    }

    #[test]
    fn every_value_has_a_canonical_spelling() {
        fn check<T: Words + std::fmt::Debug>() {
            for (value, spellings) in T::SPELLINGS {
                assert!(!spellings.is_empty(), "{value:?} has no spelling");
                assert_eq!(T::parse_word(value.word()), Ok(*value));
            }
        }
        check::<AppMode>();
        check::<AssertionAlgorithm>();
        check::<EndpointVersion>();
        check::<StoreKind>();
        check::<KeyVaultIdentityKind>();
        check::<LogFormat>();
        check::<CloudName>();
    }
}
