//! Python exceptions generated from the one error table ([`Error::TABLE`]).
//!
//! At import, one class per table row is created under a common root
//! `coord.CoordError`. Naming rule: the variant name plus `Error`
//! (`NoNode` -> `NoNodeError`), except the lock outcomes whose variant name
//! already reads as an exception (`LockTimeout`, `LockLost`). A few classes
//! also derive from the builtin a Python user would catch (`TimeoutError`,
//! `ConnectionError`, `ValueError`). Every class carries `code` and `name`
//! (the stable numeric code and upper-snake name); every raised instance
//! carries `detail` (which path, which limit). Nothing here lists error kinds
//! by hand: a new row in the table is a new class at the next build.

use coord_client::Error;
use pyo3::exceptions::{PyConnectionError, PyException, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

/// The classes, created once at import: the root, then one per table row.
struct Classes {
    root: Py<PyType>,
    by_code: Vec<(u32, Py<PyType>)>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// The Python class name of a table variant (see the module docs).
pub(crate) fn class_name(variant: &str) -> String {
    if variant.starts_with("Lock") {
        variant.to_string()
    } else {
        format!("{variant}Error")
    }
}

/// The builtin exception a class also derives from, if any.
fn builtin_base<'py>(py: Python<'py>, variant: &str) -> Option<Bound<'py, PyType>> {
    match variant {
        "OperationTimeout" | "LockTimeout" => Some(py.get_type::<PyTimeoutError>()),
        "ConnectionLoss" => Some(py.get_type::<PyConnectionError>()),
        "BadArguments" | "InvalidPath" => Some(py.get_type::<PyValueError>()),
        _ => None,
    }
}

fn build(m: &Bound<'_, PyModule>) -> PyResult<Classes> {
    let py = m.py();
    let builtins = py.import("builtins")?;
    let type_ = builtins.getattr("type")?;
    let ns = PyDict::new(py);
    ns.set_item("__module__", "coord")?;
    ns.set_item(
        "__doc__",
        "Root of every error raised by coord. `code` is the stable numeric \
         code, `name` the stable upper-snake name, `detail` what and where.",
    )?;
    ns.set_item("code", 0)?;
    ns.set_item("name", "")?;
    ns.set_item("detail", "")?;
    let root = type_.call1((
        "CoordError",
        PyTuple::new(py, [py.get_type::<PyException>()])?,
        ns,
    ))?;
    let root = root.cast_into::<PyType>()?;
    let mut by_code = Vec::with_capacity(Error::TABLE.len());
    for info in Error::TABLE {
        let name = class_name(info.variant);
        let mut bases = vec![root.clone()];
        bases.extend(builtin_base(py, info.variant));
        let ns = PyDict::new(py);
        ns.set_item("__module__", "coord")?;
        ns.set_item(
            "__doc__",
            format!(
                "{} (code {}, {}).",
                capitalize(info.summary),
                info.code,
                info.name
            ),
        )?;
        ns.set_item("code", info.code)?;
        ns.set_item("name", info.name)?;
        let cls = type_.call1((name.as_str(), PyTuple::new(py, bases)?, ns))?;
        let cls = cls.cast_into::<PyType>()?;
        m.add(name.as_str(), &cls)?;
        by_code.push((info.code, cls.unbind()));
    }
    m.add("CoordError", &root)?;
    Ok(Classes {
        root: root.unbind(),
        by_code,
    })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Creates the classes and adds them, and the table itself, to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes = build(m)?;
    let _ = CLASSES.set(py, classes);
    let rows = PyList::empty(py);
    for info in Error::TABLE {
        rows.append((
            info.code,
            info.variant,
            info.name,
            info.summary,
            class_name(info.variant),
        ))?;
    }
    m.add("ERROR_TABLE", rows)?;
    m.add_function(wrap_pyfunction!(raise_error, m)?)?;
    Ok(())
}

/// Converts a core error to the Python exception of its code.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let Some(classes) = CLASSES.get(py) else {
        return PyException::new_err(e.to_string());
    };
    let code = e.code();
    let cls = classes
        .by_code
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(&classes.root, |(_, cls)| cls)
        .bind(py);
    match cls.call1((e.to_string(),)) {
        Ok(inst) => {
            if let Err(err) = inst.setattr("detail", e.detail()) {
                return err;
            }
            PyErr::from_value(inst)
        }
        Err(err) => err,
    }
}

/// A core `Result` as a `PyResult`.
pub(crate) fn check<T>(py: Python<'_>, r: coord_client::Result<T>) -> PyResult<T> {
    r.map_err(|e| to_py(py, e))
}

/// Raises the exception of `code` with `detail`, exactly as if the core had
/// returned that error (for tests of the mapping).
#[pyfunction]
fn raise_error(py: Python<'_>, code: u32, detail: &str) -> PyResult<()> {
    Err(to_py(py, Error::from_code(code, detail)))
}
