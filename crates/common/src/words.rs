//! Enumerated settings: each enum lists its words once, in a table, and parsing (`FromStr`),
//! printing (`Display`), serde and the error text listing the accepted values all come from that
//! table. Nothing else spells the words out.
//!
//! Below every module that has such an enum (`cloud`'s cloud names, `config`'s settings); the
//! tests of the tables are `config`'s.

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
                <$ty as $crate::words::Words>::parse_word(s)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                $crate::words::write_word(*self, f)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::words::Words::word(*self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                <$ty as $crate::words::Words>::parse_word(&text)
                    .map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use impl_words;
