//! Running C callbacks: one library thread (`coord-callbacks`) runs every
//! callback, in the order the events were produced, so callbacks never run
//! on a runtime thread and may call blocking libcoord functions.
//!
//! The promise to C: a callback never runs after the call that unregisters
//! it has returned. A [`Slot`] holds one registration; the dispatcher runs a
//! callback only while holding the slot's `running` lock and only if the
//! slot is still alive. [`Slot::kill`] marks it dead and then takes the same
//! lock, so it waits for a callback that is running right now. When `kill` is
//! called *from* a callback (on the dispatcher thread) it does not wait: no
//! other callback can be running then, and the current one is the caller's.
//!
//! Owns no client or recipe state; the modules that register callbacks send
//! closures here.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

/// The `void *userdata` of a registration, passed back untouched. The C
/// caller promises it may be used from the callback thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);

// SAFETY: the pointer is never dereferenced here, only handed back to C,
// which the header documents happens on a library thread.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

/// One registration of a callback.
#[derive(Debug)]
pub(crate) struct Slot {
    alive: AtomicBool,
    running: Mutex<()>,
}

impl Slot {
    pub(crate) fn new() -> Arc<Slot> {
        Arc::new(Slot {
            alive: AtomicBool::new(true),
            running: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Unregisters: when this returns, the callback is not running and will
    /// not run again (see the module docs for calls from a callback).
    pub(crate) fn kill(&self) {
        self.alive.store(false, Ordering::SeqCst);
        if !on_dispatcher_thread() {
            drop(self.lock());
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

struct Dispatcher {
    pid: u32,
    thread: ThreadId,
    tx: Sender<Job>,
}

static DISPATCHER: Mutex<Option<Dispatcher>> = Mutex::new(None);

fn on_dispatcher_thread() -> bool {
    let me = std::thread::current().id();
    DISPATCHER
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|d| d.thread == me && d.pid == std::process::id())
}

/// Queues `call` to run on the callback thread if `slot` is still alive then.
pub(crate) fn dispatch(slot: &Arc<Slot>, call: impl FnOnce() + Send + 'static) {
    let slot = Arc::clone(slot);
    let job: Job = Box::new(move || {
        let _running = slot.lock();
        if slot.alive.load(Ordering::SeqCst) {
            // A panic cannot come from C; one from our conversion code must
            // not kill the thread every callback depends on.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
        }
    });
    let pid = std::process::id();
    let mut d = DISPATCHER.lock().unwrap_or_else(|p| p.into_inner());
    if d.as_ref().is_none_or(|d| d.pid != pid) {
        // First use, or a forked child (which has no dispatcher thread).
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("coord-callbacks".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        match spawned {
            Ok(handle) => {
                *d = Some(Dispatcher {
                    pid,
                    thread: handle.thread().id(),
                    tx,
                })
            }
            Err(e) => {
                tracing_free_log(&format!("cannot start the callback thread: {e}"));
                return;
            }
        }
    }
    if let Some(d) = d.as_ref() {
        let _ = d.tx.send(job);
    }
}

/// The library has no logger of its own; an event that cannot be delivered
/// goes to stderr (it only happens when the OS refuses a thread).
fn tracing_free_log(msg: &str) {
    eprintln!("libcoord: {msg}");
}
