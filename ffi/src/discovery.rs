//! Service discovery: register an instance, list a service's instances,
//! and pick one through a provider that follows the service. Wraps
//! [`::coord_client::recipes::ServiceDiscovery`].

use std::collections::BTreeMap;
use std::ffi::c_char;
use std::sync::{Arc, Mutex};

use ::coord_client::recipes::discovery::DEFAULT_BASE;
use ::coord_client::recipes::{Instance, Provider, Registration, ServiceDiscovery, Strategy};

use crate::client::{client, coord_client};
use crate::error::{Fail, Res, coord_result, guard, guard_value};
use crate::util::{self, handle, need, out_string, put, run};

/// How a provider picks (one of the `COORD_STRATEGY_*` values).
#[allow(non_camel_case_types)]
pub type coord_strategy = u32;
/// Each instance in turn, in id order.
pub const COORD_STRATEGY_ROUND_ROBIN: coord_strategy = 0;
/// Uniformly at random.
pub const COORD_STRATEGY_RANDOM: coord_strategy = 1;
/// The same instance while it stays registered.
pub const COORD_STRATEGY_STICKY: coord_strategy = 2;

/// One metadata entry of an instance.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_kv {
    /// Key (NUL-terminated UTF-8).
    pub key: *mut c_char,
    /// Value (NUL-terminated UTF-8).
    pub value: *mut c_char,
}

/// One instance of a service. As an argument, every pointer is borrowed
/// for the call; as a result, everything is owned by the array the library
/// returned (free with `coord_free_instances`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct coord_instance {
    /// Unique among the service's instances (one path segment).
    pub id: *mut c_char,
    /// Host name or IP address.
    pub address: *mut c_char,
    /// Port.
    pub port: u16,
    /// Metadata entries (NULL when `metadata_len` is 0).
    pub metadata: *mut coord_kv,
    /// Number of metadata entries.
    pub metadata_len: usize,
}

fn instance_in(i: &coord_instance) -> Res<Instance> {
    let mut metadata = BTreeMap::new();
    if i.metadata_len > 0 {
        if i.metadata.is_null() {
            return Err(Fail::null("instance.metadata"));
        }
        let kvs = unsafe { std::slice::from_raw_parts(i.metadata, i.metadata_len) };
        for kv in kvs {
            metadata.insert(unsafe { util::text(kv.key, "metadata key") }?, unsafe {
                util::text(kv.value, "metadata value")
            }?);
        }
    }
    Ok(Instance {
        id: unsafe { util::text(i.id, "instance.id") }?,
        address: unsafe { util::text(i.address, "instance.address") }?,
        port: i.port,
        metadata,
    })
}

fn instance_out(i: &Instance) -> coord_instance {
    let kvs: Box<[coord_kv]> = i
        .metadata
        .iter()
        .map(|(k, v)| coord_kv {
            key: out_string(k),
            value: out_string(v),
        })
        .collect();
    let metadata_len = kvs.len();
    let metadata = if metadata_len == 0 {
        std::ptr::null_mut()
    } else {
        Box::into_raw(kvs).cast::<coord_kv>()
    };
    coord_instance {
        id: out_string(&i.id),
        address: out_string(&i.address),
        port: i.port,
        metadata,
        metadata_len,
    }
}

fn instances_out(list: &[Instance]) -> (*mut coord_instance, usize) {
    if list.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let boxed: Box<[coord_instance]> = list.iter().map(instance_out).collect();
    let n = boxed.len();
    (Box::into_raw(boxed).cast::<coord_instance>(), n)
}

/// Frees an instance array returned by libcoord (with the count it wrote;
/// a picked instance is an array of 1). NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_free_instances(instances: *mut coord_instance, len: usize) {
    // SAFETY: made by Box::into_raw in instances_out with len elements,
    // each metadata array likewise with metadata_len.
    guard_value((), || unsafe {
        util::free_array(instances, len, |i| {
            util::free_string(i.id);
            util::free_string(i.address);
            util::free_array(i.metadata, i.metadata_len, |kv| {
                util::free_string(kv.key);
                util::free_string(kv.value);
            });
        })
    })
}

/// Registration and lookup of services under one base path.
pub struct coord_discovery {
    discovery: ServiceDiscovery,
}

/// A registered instance; freeing it unregisters (in the background).
pub struct coord_registration {
    registration: Mutex<Option<Registration>>,
}

/// Picks instances of one service, following its changes.
pub struct coord_provider {
    provider: Arc<Provider>,
}

/// Service discovery under `base` (NULL: `"/services"`).
///
/// Ownership: `*out` is owned by the caller; free with `coord_discovery_free`.
///
/// Results: `COORD_RESULT_OK`; argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_discovery_new(
    client: *const coord_client,
    base: *const c_char,
    out: *mut *mut coord_discovery,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let c = self::client(client)?;
        let base = if base.is_null() {
            DEFAULT_BASE.to_string()
        } else {
            unsafe { util::path(base, "base") }?
        };
        let h = Box::new(coord_discovery {
            discovery: ServiceDiscovery::new(c, &base),
        });
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

fn discovery(p: *const coord_discovery) -> Res<ServiceDiscovery> {
    Ok(unsafe { handle(p, "discovery") }?.discovery.clone())
}

/// Registers `instance` of service `service` for the life of the session
/// (or until the registration is freed). `COORD_RESULT_NODE_EXISTS` when
/// another live session registered the same id.
///
/// Ownership: arguments are borrowed for the call; `*out` is owned by the
/// caller, free it with `coord_registration_free` (which unregisters).
#[unsafe(no_mangle)]
pub extern "C" fn coord_discovery_register(
    discovery: *const coord_discovery,
    service: *const c_char,
    instance: *const coord_instance,
    out: *mut *mut coord_registration,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let d = self::discovery(discovery)?;
        let service = unsafe { util::text(service, "service") }?;
        let instance = instance_in(unsafe { handle(instance, "instance") }?)?;
        let reg = run(async move { d.register(&service, instance).await }, None)?;
        let h = Box::new(coord_registration {
            registration: Mutex::new(Some(reg)),
        });
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// Removes the instance now and waits for the server. The handle must
/// still be freed. Unregistering twice is `COORD_RESULT_NOT_HELD`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_registration_unregister(
    registration: *const coord_registration,
) -> coord_result {
    guard(|| {
        let r = unsafe { handle(registration, "registration") }?;
        let taken = r
            .registration
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| Fail::new(coord_result::NotHeld, "already unregistered"))?;
        run(async move { taken.unregister().await }, None)
    })
}

/// Frees a registration, unregistering in the background. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_registration_free(registration: *mut coord_registration) {
    guard_value((), || {
        if !registration.is_null() {
            util::drop_in_runtime(unsafe { Box::from_raw(registration) });
        }
    })
}

/// The registered instances of `service`, sorted by id, into
/// `*out_instances` / `*out_len` (NULL and 0 when none).
///
/// Ownership: `*out_instances` is owned by the caller; free with
/// `coord_free_instances(instances, len)`.
///
/// Results: `COORD_RESULT_OK` (none registered included); argument errors;
/// request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_discovery_list(
    discovery: *const coord_discovery,
    service: *const c_char,
    out_instances: *mut *mut coord_instance,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        need(out_instances, "out_instances")?;
        need(out_len, "out_len")?;
        let d = self::discovery(discovery)?;
        let service = unsafe { util::text(service, "service") }?;
        let list = run(async move { d.instances(&service).await }, None)?;
        let (p, n) = instances_out(&list);
        unsafe {
            put(out_instances, p);
            put(out_len, n);
        }
        Ok(())
    })
}

/// A provider following `service`, picking by `strategy`
/// (`COORD_STRATEGY_*`). Returns once the current instances are known.
///
/// Ownership: `*out` is owned by the caller; free with `coord_provider_free`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_BAD_ARGUMENTS` (unknown
/// strategy); argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_discovery_provider(
    discovery: *const coord_discovery,
    service: *const c_char,
    strategy: coord_strategy,
    out: *mut *mut coord_provider,
) -> coord_result {
    guard(|| {
        let out = need(out, "out")?;
        let strategy = match strategy {
            COORD_STRATEGY_ROUND_ROBIN => Strategy::RoundRobin,
            COORD_STRATEGY_RANDOM => Strategy::Random,
            COORD_STRATEGY_STICKY => Strategy::Sticky,
            other => return Err(Fail::bad(format!("unknown strategy {other}"))),
        };
        let d = self::discovery(discovery)?;
        let service = unsafe { util::text(service, "service") }?;
        let p = run(async move { d.provider(&service, strategy).await }, None)?;
        let h = Box::new(coord_provider {
            provider: Arc::new(p),
        });
        unsafe { put(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// Picks an instance by the provider's strategy: `*out_instance` is one
/// instance (an array of 1), or NULL when none is registered. Local: no
/// round trip.
///
/// Ownership: `*out_instance` is owned by the caller; free with
/// `coord_free_instances(instance, 1)`.
///
/// Results: `COORD_RESULT_OK` (also when none is registered: NULL);
/// argument errors. No I/O.
#[unsafe(no_mangle)]
pub extern "C" fn coord_provider_pick(
    provider: *const coord_provider,
    out_instance: *mut *mut coord_instance,
) -> coord_result {
    guard(|| {
        let out = need(out_instance, "out_instance")?;
        let p = unsafe { handle(provider, "provider") }?;
        let picked = p.provider.pick();
        let ptr = match picked {
            Some(i) => instances_out(std::slice::from_ref(&i)).0,
            None => std::ptr::null_mut(),
        };
        unsafe { put(out, ptr) };
        Ok(())
    })
}

/// Stops following and frees the provider. NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_provider_free(provider: *mut coord_provider) {
    guard_value((), || {
        if provider.is_null() {
            return;
        }
        let p = unsafe { Box::from_raw(provider) };
        let inner = Arc::clone(&p.provider);
        let _ = util::run_cleanup(async move { inner.close().await });
        util::drop_in_runtime(p);
    })
}

/// Frees a discovery handle (registrations stay). NULL is fine.
#[unsafe(no_mangle)]
pub extern "C" fn coord_discovery_free(discovery: *mut coord_discovery) {
    guard_value((), || {
        if !discovery.is_null() {
            util::drop_in_runtime(unsafe { Box::from_raw(discovery) });
        }
    })
}
