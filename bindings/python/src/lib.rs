//! `coord._coord`: the native half of the Python package `coord`.
//!
//! A thin layer: it converts Python values to core types and back, runs core
//! futures on the shared runtime of [`coord_client::embed`], and maps
//! [`coord_client::Error`] to Python exceptions. It owns no protocol and no
//! recipe logic; the pure-Python package (`python/coord`) adds the idioms
//! (context managers, `threading.Lock`-like methods, iterators) on top of it.
//!
//! Modules:
//! - `errors`: the exception hierarchy, generated from `Error::TABLE`.
//! - `call`: [`call::Call`], one pending core operation that Python either
//!   waits for (GIL released, Ctrl-C checked) or awaits (asyncio future), and
//!   [`call::Stream`], a sequence of such operations; `Held`, the owner that
//!   drops core handles inside the runtime and never after `fork()`.
//! - `client`: the client, `Stat`, watch events, transactions.
//! - `locks`: lock, read-write lock sides, semaphore, multi-lock.
//! - `recipes`: election, caches, barriers, queue, counter, discovery.
//! - `group`: group membership (join with a payload, members, follow them).
//! - `security`: TLS / token / digest at connect, whoami, ACLs, quotas,
//!   lock lines.
//! - `watches`: one-shot watches, watch removal, session state changes,
//!   children with stats.
//! - `testing`: the embedded server behind `coord.testing.Server`.

use pyo3::prelude::*;

mod call;
mod client;
mod errors;
mod group;
mod locks;
mod recipes;
mod security;
mod testing;
mod watches;

/// The native module. Not for direct use: import `coord`.
#[pymodule]
fn _coord(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    call::register(m)?;
    client::register(m)?;
    locks::register(m)?;
    group::register(m)?;
    recipes::register(m)?;
    security::register(m)?;
    testing::register(m)?;
    watches::register(m)?;
    // The public names are `coord`'s; the native module keeps no `__all__`
    // (pyo3 builds one) so that its stub need not list every name twice.
    m.delattr("__all__")?;
    Ok(())
}
