//! Core errors as JavaScript errors.
//!
//! A core [`coord_client::Error`] crosses into JavaScript as an `Error` whose
//! message starts with its stable name in brackets (`[NO_NODE] no node: /a`);
//! `lib/errors.js` turns it into the matching `CoordError` subclass with
//! `error.code === 'NO_NODE'`. The classes themselves are made from
//! [`error_table`], i.e. from `Error::TABLE`, so no error kind is written
//! twice.

use napi::{Error as JsError, Status};
use napi_derive::napi;

/// One row of the core's error table.
#[napi(object)]
pub struct ErrorInfo {
    /// Stable numeric code (`101`).
    pub code: u32,
    /// Stable upper-snake name, the JS `error.code` (`NO_NODE`).
    pub name: String,
    /// Name of the Rust variant (`NoNode`); the JS class is this plus `Error`.
    pub variant: String,
    /// Short human summary.
    pub summary: String,
}

/// Every error kind of coord, in the core's table order.
#[napi]
pub fn error_table() -> Vec<ErrorInfo> {
    coord_client::Error::TABLE
        .iter()
        .map(|i| ErrorInfo {
            code: i.code,
            name: i.name.to_string(),
            variant: i.variant.to_string(),
            summary: i.summary.to_string(),
        })
        .collect()
}

/// A core error as the JS error `lib/errors.js` understands.
pub(crate) fn js(e: coord_client::Error) -> JsError {
    JsError::new(Status::GenericFailure, format!("[{}] {e}", e.name()))
}

/// Converts a core result.
pub(crate) trait IntoJs<T> {
    /// The same result with a JS error.
    fn js(self) -> napi::Result<T>;
}

impl<T> IntoJs<T> for coord_client::Result<T> {
    fn js(self) -> napi::Result<T> {
        self.map_err(js)
    }
}

/// A `BAD_ARGUMENTS` error from the binding's own argument checks.
pub(crate) fn bad_arguments(msg: impl Into<String>) -> JsError {
    js(coord_client::Error::BadArguments(msg.into()))
}
