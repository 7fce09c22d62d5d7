//! Service discovery: processes register instances of a named service;
//! clients list them or pick one through a [`Provider`] that follows them.
//!
//! An instance is an ephemeral node `<base>/<service>/<instance-id>` whose
//! data is the [`Instance`] as JSON (`{"id":..,"address":..,"port":..,
//! "metadata":{..}}`), so an instance vanishes by itself when its process's
//! session ends, and any client of the protocol can read it. A registration
//! is a [`Membership`] of the group `<base>/<service>`. A [`Provider`] follows
//! one service through a [`TreeCache`] and picks instances by a [`Strategy`].
//!
//! # Error handling
//! - *Connection loss (Suspended)*: the client holds new requests until it has
//!   reconnected; a request in flight fails with `ConnectionLoss` and may or may
//!   not have been applied. A registration whose reply was lost is recovered
//!   (see [`Group::join`]); a provider keeps picking from its last known
//!   instances (possibly stale) and re-reads them after the reconnect.
//! - *Session expiry*: the registering process's instances are gone with its
//!   session ([`Registration::lost`] resolves); a provider of an expired
//!   client stops following and keeps its last instances.
//! - *Timeout*: every call is bounded by the client's request timeout
//!   (`OperationTimeout`).
//! - *Cancellation*: dropping a [`Registration`] unregisters in the background;
//!   dropping a [`Provider`] stops its cache.
//! - Nodes under a service that do not hold an instance's JSON are skipped
//!   (logged at debug level).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::cache::TreeCache;
use super::group::{Group, Membership};
use super::support::{check_segment, child_path};
use crate::client::Client;
use crate::error::{Error, Result};

/// Where services are registered unless told otherwise.
pub const DEFAULT_BASE: &str = "/services";

/// One instance of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Instance {
    /// Unique among the service's instances; the node's name.
    pub id: String,
    /// Host name or IP address.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Free-form key-value pairs (zone, version, weight...).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// How a [`Provider`] picks among the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Each instance in turn, in id order.
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// The same instance as last time while it is registered; a new one
    /// (round robin) when it goes.
    Sticky,
}

/// Registration and lookup of services under one base path.
#[derive(Debug, Clone)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::{Instance, ServiceDiscovery, Strategy};
///
/// let services = ServiceDiscovery::new(&client, "/services");
/// let me = Instance { id: "api-1".into(), address: "10.0.0.7".into(), port: 8080, metadata: Default::default() };
/// let registration = services.register("api", me.clone()).await?;
/// let provider = services.provider("api", Strategy::RoundRobin).await?;
/// assert_eq!(provider.pick(), Some(me));
/// registration.unregister().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct ServiceDiscovery {
    client: Client,
    base: String,
}

impl ServiceDiscovery {
    /// Services under `base` (e.g. [`DEFAULT_BASE`]).
    pub fn new(client: &Client, base: &str) -> Self {
        ServiceDiscovery {
            client: client.clone(),
            base: base.to_string(),
        }
    }

    /// The base path.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The path of the service `name`.
    pub fn service_path(&self, name: &str) -> String {
        child_path(&self.base, name)
    }

    /// Registers `instance` of service `name` for the life of this session
    /// (or until unregistered). `NodeExists` when another live session
    /// registered the same id.
    pub async fn register(&self, name: &str, instance: Instance) -> Result<Registration> {
        check_segment("service name", name)?;
        let payload = encode(&instance)?;
        let membership = Group::join(
            &self.client,
            &self.service_path(name),
            &instance.id,
            payload,
        )
        .await?;
        Ok(Registration {
            membership,
            instance,
        })
    }

    /// The registered instances of service `name`, sorted by id.
    pub async fn instances(&self, name: &str) -> Result<Vec<Instance>> {
        check_segment("service name", name)?;
        let members = Group::members(&self.client, &self.service_path(name)).await?;
        Ok(members
            .iter()
            .filter_map(|(node, data)| decode(node, data))
            .collect())
    }

    /// A [`Provider`] that follows service `name` and picks by `strategy`.
    /// Returns once the current instances are known.
    pub async fn provider(&self, name: &str, strategy: Strategy) -> Result<Provider> {
        check_segment("service name", name)?;
        let path = self.service_path(name);
        let cache = TreeCache::start(&self.client, &path).await?;
        Ok(Provider {
            path,
            strategy,
            cache,
            next: AtomicUsize::new(0),
            parsed: Mutex::new(Parsed {
                generation: None,
                instances: Vec::new(),
            }),
            sticky: Mutex::new(None),
        })
    }
}

fn encode(instance: &Instance) -> Result<Vec<u8>> {
    serde_json::to_vec(instance)
        .map_err(|e| Error::BadArguments(format!("instance {}: {e}", instance.id)))
}

fn decode(node: &str, data: &[u8]) -> Option<Instance> {
    match serde_json::from_slice::<Instance>(data) {
        Ok(i) => Some(i),
        Err(e) => {
            tracing::debug!(node, error = %e, "skipping a node that is not a service instance");
            None
        }
    }
}

/// A registered instance. Dropping it unregisters in the background.
#[derive(Debug)]
#[must_use = "dropping a Registration unregisters the instance"]
pub struct Registration {
    membership: Membership,
    instance: Instance,
}

impl Registration {
    /// The registered instance.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Full path of the instance's node.
    pub fn node(&self) -> &str {
        self.membership.node()
    }

    /// Replaces the registered description (same id; watchers see the change).
    pub async fn update(&mut self, instance: Instance) -> Result<()> {
        if instance.id != self.instance.id {
            return Err(Error::BadArguments(format!(
                "an update must keep the id {:?} (got {:?})",
                self.instance.id, instance.id
            )));
        }
        self.membership.update(encode(&instance)?).await?;
        self.instance = instance;
        Ok(())
    }

    /// True once the registration was lost (session expired, node deleted).
    pub fn is_lost(&self) -> bool {
        self.membership.is_lost()
    }

    /// Resolves when the registration is lost.
    pub async fn lost(&self) {
        self.membership.lost().await
    }

    /// Removes the instance and waits for it.
    pub async fn unregister(self) -> Result<()> {
        self.membership.leave().await
    }
}

/// Instances parsed from the cache, valid for one cache generation.
struct Parsed {
    generation: Option<u64>,
    instances: Vec<Instance>,
}

/// Follows one service and picks instances. See [`Strategy`].
pub struct Provider {
    path: String,
    strategy: Strategy,
    cache: TreeCache,
    next: AtomicUsize,
    parsed: Mutex<Parsed>,
    sticky: Mutex<Option<String>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("path", &self.path)
            .field("strategy", &self.strategy)
            .finish()
    }
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Provider {
    /// The followed service's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The picking strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The instances known now, sorted by id.
    pub fn instances(&self) -> Vec<Instance> {
        let generation = *self.cache.subscribe().borrow();
        let mut parsed = guard(&self.parsed);
        if parsed.generation != Some(generation) {
            parsed.instances = self
                .cache
                .children(&self.path)
                .iter()
                .filter_map(|(name, data, _)| decode(&child_path(&self.path, name), data))
                .collect();
            parsed.generation = Some(generation);
        }
        parsed.instances.clone()
    }

    /// An instance by the strategy, or `None` when none is registered.
    pub fn pick(&self) -> Option<Instance> {
        let instances = self.instances();
        if instances.is_empty() {
            return None;
        }
        let round_robin =
            || instances[self.next.fetch_add(1, Ordering::Relaxed) % instances.len()].clone();
        match self.strategy {
            Strategy::RoundRobin => Some(round_robin()),
            Strategy::Random => Some(instances[rand::random::<usize>() % instances.len()].clone()),
            Strategy::Sticky => {
                let mut sticky = guard(&self.sticky);
                if let Some(i) = sticky
                    .as_ref()
                    .and_then(|id| instances.iter().find(|i| &i.id == id))
                {
                    return Some(i.clone());
                }
                let chosen = round_robin();
                *sticky = Some(chosen.id.clone());
                Some(chosen)
            }
        }
    }

    /// A counter that grows after every change of the service's nodes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.cache.subscribe()
    }

    /// Stops following the service (the last instances stay pickable).
    pub async fn close(&self) -> Result<()> {
        self.cache.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_round_trip_through_json_and_metadata_is_optional() {
        let i = Instance {
            id: "a".into(),
            address: "10.0.0.1".into(),
            port: 80,
            metadata: BTreeMap::from([("zone".to_string(), "z1".to_string())]),
        };
        let bytes = encode(&i).unwrap();
        assert_eq!(decode("/s/a", &bytes), Some(i));
        let bare = br#"{"id":"b","address":"h","port":1}"#;
        assert_eq!(decode("/s/b", bare).map(|i| i.metadata.len()), Some(0));
        assert_eq!(decode("/s/c", b"not json"), None);
    }
}
