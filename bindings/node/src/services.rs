//! Service discovery and group membership, as handles: registering and
//! following a service's instances ([`NativeDiscovery`], [`NativeProvider`])
//! and joining or following a group ([`NativeMembership`],
//! [`NativeMembersStream`]). Each method is one core call; this module only
//! converts (split from `recipes` by concept, to keep files small).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use coord_client::embed::{self, ClosableStream};
use coord_client::recipes::{
    Group, Instance, Membership, Provider, Registration, ServiceDiscovery, Strategy,
};
use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use tokio::sync::Mutex as AsyncMutex;

use crate::client::NativeClient;
use crate::convert::bytes;
use crate::error::{IntoJs, bad_arguments};
use crate::recipes::{buffer, next_change};

#[napi]
impl NativeClient {
    /// Service discovery under `base` (default `/services`).
    #[napi]
    pub fn discovery_handle(&self, base: Option<String>) -> NativeDiscovery {
        let base = base.unwrap_or_else(|| coord_client::recipes::discovery::DEFAULT_BASE.into());
        NativeDiscovery {
            discovery: ServiceDiscovery::new(&self.client, &base),
        }
    }

    /// Joins the group at `path` as `name` with `payload`.
    #[napi]
    pub async fn join_group(
        &self,
        path: String,
        name: String,
        payload: Option<Buffer>,
    ) -> Result<NativeMembership> {
        let m = Group::join(&self.client, &path, &name, bytes(payload))
            .await
            .js()?;
        Ok(NativeMembership {
            name: m.name().to_string(),
            node: m.node().to_string(),
            membership: AsyncMutex::new(Some(m)),
        })
    }

    /// The members of the group at `path`, sorted by name.
    #[napi]
    pub async fn group_members(&self, path: String) -> Result<Vec<Member>> {
        let members = Group::members(&self.client, &path).await.js()?;
        Ok(members.into_iter().map(member).collect())
    }

    /// The members of the group at `path` now, then after every change.
    #[napi]
    pub fn watch_group(&self, path: String) -> NativeMembersStream {
        NativeMembersStream {
            stream: ClosableStream::new(Group::watch_members(&self.client, &path)),
        }
    }
}

/// One instance of a service.
#[napi(object)]
pub struct ServiceInstance {
    /// Unique among the service's instances.
    pub id: String,
    /// Host name or IP address.
    pub address: String,
    /// Port.
    pub port: u32,
    /// Free-form key-value pairs.
    pub metadata: Option<HashMap<String, String>>,
}

fn to_core(i: ServiceInstance) -> Result<Instance> {
    let port = u16::try_from(i.port)
        .map_err(|_| bad_arguments(format!("port must be 0..=65535, got {}", i.port)))?;
    Ok(Instance {
        id: i.id,
        address: i.address,
        port,
        metadata: i.metadata.unwrap_or_default().into_iter().collect(),
    })
}

fn from_core(i: Instance) -> ServiceInstance {
    ServiceInstance {
        id: i.id,
        address: i.address,
        port: u32::from(i.port),
        metadata: Some(
            i.metadata
                .into_iter()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        ),
    }
}

/// Registration and lookup of services under one base path.
#[napi]
pub struct NativeDiscovery {
    discovery: ServiceDiscovery,
}

#[napi]
impl NativeDiscovery {
    /// Registers an instance of service `name` for the session's life.
    #[napi]
    pub async fn register(
        &self,
        name: String,
        instance: ServiceInstance,
    ) -> Result<NativeRegistration> {
        let reg = self
            .discovery
            .register(&name, to_core(instance)?)
            .await
            .js()?;
        Ok(NativeRegistration {
            node: reg.node().to_string(),
            reg: AsyncMutex::new(Some(reg)),
        })
    }

    /// The registered instances of service `name`, sorted by id.
    #[napi]
    pub async fn instances(&self, name: String) -> Result<Vec<ServiceInstance>> {
        let list = self.discovery.instances(&name).await.js()?;
        Ok(list.into_iter().map(from_core).collect())
    }

    /// Follows service `name`; picks by `'roundRobin'` (default), `'random'`
    /// or `'sticky'`.
    #[napi]
    pub async fn provider(&self, name: String, strategy: Option<String>) -> Result<NativeProvider> {
        let strategy = match strategy.as_deref() {
            None | Some("roundRobin") => Strategy::RoundRobin,
            Some("random") => Strategy::Random,
            Some("sticky") => Strategy::Sticky,
            Some(other) => {
                return Err(bad_arguments(format!(
                    "strategy must be 'roundRobin', 'random' or 'sticky', got {other:?}"
                )));
            }
        };
        let provider = self.discovery.provider(&name, strategy).await.js()?;
        Ok(NativeProvider {
            changes: ClosableStream::new(embed::changes(provider.subscribe())),
            provider: Arc::new(provider),
        })
    }
}

/// A registered instance.
#[napi]
pub struct NativeRegistration {
    node: String,
    reg: AsyncMutex<Option<Registration>>,
}

#[napi]
impl NativeRegistration {
    /// Full path of the instance's node.
    #[napi(getter)]
    pub fn node(&self) -> String {
        self.node.clone()
    }

    /// Replaces the registered description (same id).
    #[napi]
    pub async fn update(&self, instance: ServiceInstance) -> Result<()> {
        let instance = to_core(instance)?;
        match self.reg.lock().await.as_mut() {
            Some(r) => r.update(instance).await.js(),
            None => Err(bad_arguments("the instance was unregistered")),
        }
    }

    /// Removes the instance; later calls do nothing.
    #[napi]
    pub async fn unregister(&self) -> Result<()> {
        let reg = self.reg.lock().await.take();
        match reg {
            Some(r) => r.unregister().await.js(),
            None => Ok(()),
        }
    }

    /// True once lost (session expired, node deleted).
    #[napi]
    pub async fn is_lost(&self) -> bool {
        self.reg.lock().await.as_ref().is_some_and(|r| r.is_lost())
    }
}

/// Follows one service and picks instances.
#[napi]
pub struct NativeProvider {
    provider: Arc<Provider>,
    changes: ClosableStream<u64>,
}

#[napi]
impl NativeProvider {
    /// The known instances, sorted by id.
    #[napi]
    pub fn instances(&self) -> Vec<ServiceInstance> {
        self.provider
            .instances()
            .into_iter()
            .map(from_core)
            .collect()
    }

    /// One instance by the strategy, `null` when there is none.
    #[napi]
    pub fn pick(&self) -> Option<ServiceInstance> {
        self.provider.pick().map(from_core)
    }

    /// Resolves `true` after the next change, `false` once stopped.
    #[napi]
    pub async fn changed(&self) -> bool {
        next_change(&self.changes).await
    }

    /// Stops following.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.changes.close();
        self.provider.close().await.js()
    }
}

/// A member of a group.
#[napi(object, object_from_js = false)]
pub struct Member {
    /// The member's name.
    pub name: String,
    /// Its payload.
    pub data: Buffer,
}

fn member((name, data): (String, Bytes)) -> Member {
    Member {
        name,
        data: buffer(data),
    }
}

/// Our membership of a group.
#[napi]
pub struct NativeMembership {
    name: String,
    node: String,
    membership: AsyncMutex<Option<Membership>>,
}

#[napi]
impl NativeMembership {
    /// The member name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Full path of the member node.
    #[napi(getter)]
    pub fn node(&self) -> String {
        self.node.clone()
    }

    /// Replaces the payload.
    #[napi]
    pub async fn update(&self, payload: Buffer) -> Result<()> {
        match self.membership.lock().await.as_ref() {
            Some(m) => m.update(bytes(Some(payload))).await.js(),
            None => Err(bad_arguments("the member left the group")),
        }
    }

    /// Leaves the group; later calls do nothing.
    #[napi]
    pub async fn leave(&self) -> Result<()> {
        let m = self.membership.lock().await.take();
        match m {
            Some(m) => m.leave().await.js(),
            None => Ok(()),
        }
    }
}

/// The members of a group after every change, one `next()` at a time (the
/// core's one closable stream, `embed::ClosableStream`).
#[napi]
pub struct NativeMembersStream {
    stream: ClosableStream<Vec<(String, Bytes)>>,
}

#[napi]
impl NativeMembersStream {
    /// The next member list; `null` once closed or ended (closing the client
    /// ends it too, without an error); never an item after `close()`.
    /// Rejects once with the error that ended it (`SESSION_EXPIRED`),
    /// then resolves `null`.
    #[napi]
    pub async fn next(&self) -> Result<Option<Vec<Member>>> {
        let list = self.stream.next().await.js()?;
        Ok(list.map(|l| l.into_iter().map(member).collect()))
    }

    /// Stops following: no list is delivered after this, a pending `next()`
    /// resolves `null`.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.stream.close();
        Ok(())
    }
}
