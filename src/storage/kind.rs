//! Kinds stored as text: one macro gives each its `as_str`, `parse`, `Display`, `Serialize`
//! and the sqlx `Type`/`Encode`/`Decode` impls (for any backend whose `str` is text), so a row
//! decodes straight into the enum and an unknown stored value is an error, never a default.

/// Declares an enum whose values are stored as the given strings.
///
/// ```ignore
/// stored_kind! {
///     /// Whether a ticket is being worked on.
///     pub enum TicketStatus { Open = "open", Closed = "closed" }
/// }
/// ```
#[macro_export]
macro_rules! stored_kind {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and shown) text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value stored as `text`, exactly.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        $crate::stored_as_text!($name);
    };
}

/// The sqlx impls of a type with `as_str(self)` and `parse(&str) -> Option<Self>`: stored as
/// text, decoded strictly.
#[macro_export]
macro_rules! stored_as_text {
    ($name:ident) => {
        impl<DB: ::sqlx::Database> ::sqlx::Type<DB> for $name
        where
            str: ::sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as ::sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as ::sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: ::sqlx::Database> ::sqlx::Encode<'q, DB> for $name
        where
            &'q str: ::sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as ::sqlx::Database>::ArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                let text: &'q str = self.as_str();
                <&'q str as ::sqlx::Encode<'q, DB>>::encode_by_ref(&text, buf)
            }
        }

        impl<'r, DB: ::sqlx::Database> ::sqlx::Decode<'r, DB> for $name
        where
            &'r str: ::sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as ::sqlx::Database>::ValueRef<'r>) -> Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&'r str as ::sqlx::Decode<'r, DB>>::decode(value)?;
                $name::parse(text)
                    .ok_or_else(|| format!("unknown {} {text:?} in the database", stringify!($name)).into())
            }
        }
    };
}
