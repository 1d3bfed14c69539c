//! The domain's words as types: each value is stored as lower-case text, and a value read from
//! the database or a form is one of these or refused. `text_enum!` gives each enum its text, its
//! list of values, parsing, and the mapping to SQL text on both backends.

use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Decode, Encode, Type};

/// A word that is not one of an enum's values.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what}: {value:?}")]
pub struct Unknown {
    pub what: &'static str,
    pub value: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::vocab::Unknown;
            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::vocab::Unknown { what: $what, value: s.to_string() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                $crate::vocab::text_type()
            }
            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                $crate::vocab::text_compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(value: sqlx::any::AnyValueRef<'r>) -> std::result::Result<Self, sqlx::error::BoxDynError> {
                Ok($crate::vocab::decode_text(value)?.parse()?)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                $crate::vocab::encode_text(self.as_str(), buf)
            }
        }
    };
}
pub(crate) use text_enum;

pub fn text_type() -> AnyTypeInfo {
    <String as Type<Any>>::type_info()
}

pub fn text_compatible(ty: &AnyTypeInfo) -> bool {
    <String as Type<Any>>::compatible(ty)
}

pub fn decode_text(value: AnyValueRef<'_>) -> Result<String, BoxDynError> {
    <String as Decode<Any>>::decode(value)
}

pub fn encode_text<'q>(
    text: &'static str,
    buf: &mut <Any as sqlx::Database>::ArgumentBuffer<'q>,
) -> Result<IsNull, BoxDynError> {
    let text: &'q str = text;
    <&'q str as Encode<'q, Any>>::encode(text, buf)
}
