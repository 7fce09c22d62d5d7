//! Group membership for Python: join a group with a payload, list its
//! members, follow them. Wraps the core's `Group` / `Membership`; every
//! behaviour (ephemeral member nodes, leave on drop, the watch behind the
//! member stream) is the core's, this file converts values.

use std::sync::Arc;

use bytes::Bytes;
use coord_client::Error;
use coord_client::recipes::group::Member;
use coord_client::recipes::{Group, Membership};
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use tokio::sync::watch;

use crate::call::{Call, Conv, Held, Stream, call, conv_with, failed, none};
use crate::client::ClientCore;
use crate::errors::check;

/// A member list as Python sees it: `[(name, payload), ...]`.
fn members(list: Vec<Member>) -> Conv {
    conv_with(move |py| {
        let items = list
            .iter()
            .map(|(name, payload)| {
                PyTuple::new(
                    py,
                    [
                        name.into_pyobject(py)?.into_any(),
                        PyBytes::new(py, payload).into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.into_any().unbind())
    })
}

/// Our membership in a group; leaves when `leave()` is called or when it is
/// dropped (in the background).
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct MembershipCore {
    m: Held<Arc<tokio::sync::Mutex<Option<Membership>>>>,
    lost: watch::Receiver<bool>,
    /// Our member name.
    #[pyo3(get)]
    name: String,
    /// Full path of our member node.
    #[pyo3(get)]
    node: String,
}

#[pymethods]
impl MembershipCore {
    /// Replaces our payload (members watchers see the change).
    fn update(&self, payload: Vec<u8>) -> Call {
        let m = match self.m.get() {
            Ok(m) => m.clone(),
            Err(e) => return failed(e),
        };
        call(async move {
            match m.lock().await.as_ref() {
                Some(m) => m.update(Bytes::from(payload)).await?,
                None => return Err(Error::NotHeld("this membership has left its group".into())),
            }
            Ok(none())
        })
    }

    /// Leaves the group (deletes our node) and waits; again: no-op.
    fn leave(&self) -> Call {
        let m = match self.m.get() {
            Ok(m) => m.clone(),
            Err(e) => return failed(e),
        };
        call(async move {
            if let Some(m) = m.lock().await.take() {
                m.leave().await?;
            }
            Ok(none())
        })
    }

    /// True once our membership was lost (session expired or node deleted
    /// by someone else); not after a `leave()`.
    #[getter]
    fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }
}

/// Joins the group at `path` as `name` with `payload`; resolves to a
/// `MembershipCore`.
#[pyfunction]
fn group_join(client: &ClientCore, path: String, name: String, payload: Vec<u8>) -> Call {
    let c = match client.core() {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let guard = client.guard();
    call(async move {
        let m = Group::join(&c, &path, &name, Bytes::from(payload)).await?;
        Ok(conv_with(move |py| {
            let core = MembershipCore {
                lost: m.lost_signal(),
                name: m.name().to_string(),
                node: m.node().to_string(),
                m: Held::new(guard, Arc::new(tokio::sync::Mutex::new(Some(m)))),
            };
            Ok(Py::new(py, core)?.into_any())
        }))
    })
}

/// Resolves to the members of the group at `path`, sorted by name.
#[pyfunction]
fn group_members(client: &ClientCore, path: String) -> Call {
    match client.core() {
        Ok(c) => call(async move { Ok(members(Group::members(&c, &path).await?)) }),
        Err(e) => failed(e),
    }
}

/// A `Stream` of the member list of the group at `path`: now, then after
/// every join, leave or payload change.
#[pyfunction]
fn group_watch(py: Python<'_>, client: &ClientCore, path: &str) -> PyResult<Stream> {
    let c = check(py, client.core())?;
    let guard = client.guard();
    let _entered = check(py, coord_client::embed::handle())?.enter();
    let items = Group::watch_members(&c, path)
        .map(|r| r.map(members))
        .boxed();
    Ok(Stream::new(guard, items))
}

/// Adds the classes and functions of this module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MembershipCore>()?;
    m.add_function(wrap_pyfunction!(group_join, m)?)?;
    m.add_function(wrap_pyfunction!(group_members, m)?)?;
    m.add_function(wrap_pyfunction!(group_watch, m)?)?;
    Ok(())
}
