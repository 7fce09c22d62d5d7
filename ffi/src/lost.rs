//! The "lost" callback of a held lock, a semaphore lease or a leadership
//! term: armed on every acquire with the recipe's lost signal, disarmed on
//! release, resign, re-registration and free. Each arming gets its own
//! `Slot`, so a callback of a previous hold can never run after the
//! disarming call.

use std::ffi::c_void;
use std::sync::{Arc, Mutex, MutexGuard};

use ::coord_client::embed;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::callbacks::{Slot, UserData, dispatch};

/// A lost callback: `void callback(void *userdata)`. Runs on the library's
/// callback thread, at most once per hold, never after the call that
/// releases, resigns, re-registers or frees has returned.
#[allow(non_camel_case_types)]
pub type coord_lost_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

#[derive(Default)]
struct State {
    callback: Option<(unsafe extern "C" fn(*mut c_void), UserData)>,
    armed: Option<(Arc<Slot>, JoinHandle<()>)>,
}

/// The registration and the current arming.
#[derive(Default)]
pub(crate) struct LostCallback {
    state: Mutex<State>,
}

impl LostCallback {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the callback (None unregisters); disarms the old one.
    pub(crate) fn set(&self, f: coord_lost_fn, ud: *mut c_void) {
        let old = {
            let mut s = self.state();
            s.callback = f.map(|f| (f, UserData(ud)));
            s.armed.take()
        };
        disarm(old);
    }

    /// Arms the callback on `signal` unless already armed or none registered.
    pub(crate) fn arm(&self, signal: Option<watch::Receiver<bool>>) {
        let Some(mut rx) = signal else { return };
        let mut s = self.state();
        let Some((f, ud)) = s.callback else { return };
        if s.armed.is_some() {
            return;
        }
        let Ok(rt) = embed::handle() else { return };
        let slot = Slot::new();
        let sl = Arc::clone(&slot);
        let task = rt.spawn(async move {
            if rx.wait_for(|lost| *lost).await.is_ok() {
                dispatch(&sl, move || {
                    let ud = ud;
                    // SAFETY: a C function pointer registered with this userdata.
                    unsafe { f(ud.0) }
                });
            }
        });
        s.armed = Some((slot, task));
    }

    /// Disarms the current arming (the hold ended).
    pub(crate) fn disarm(&self) {
        let old = self.state().armed.take();
        disarm(old);
    }
}

fn disarm(armed: Option<(Arc<Slot>, JoinHandle<()>)>) {
    if let Some((slot, task)) = armed {
        task.abort();
        slot.kill();
    }
}
