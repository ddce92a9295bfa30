//! What this process may do right now: the answer every outside call and every queue state
//! change asks for.

use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;

/// This process does not hold the lease (any more): it makes no outside call and changes no
/// queue state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this bridge process is standby: another one holds the lease")]
pub struct NotActive;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    Active,
    Standby,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Standby => "standby",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Nothing is fenced: the only process on its database (SQLite), a one-off command, or a
    /// process still starting (its startup calls are the same on every process).
    Open,
    Standby,
    /// Holds the lease with `token`, and may call out until `until` (a monotonic deadline
    /// short of the lease's end on the database's clock: a process stopped past it, SIGSTOP
    /// or a debugger, stops by itself whatever its wall clock says; a suspended machine's
    /// monotonic clock may not count the suspension, which this cannot see).
    Active {
        token: i64,
        until: Instant,
    },
}

#[derive(Debug)]
pub struct Fence {
    /// Whether this process takes part in the lease (PostgreSQL `serve`).
    leased: bool,
    state: Mutex<State>,
    /// Outside calls not made because the lease was not held.
    refused: Counter,
}

impl Fence {
    /// For a process alone on its database, and for commands: never fenced, always active.
    pub fn open() -> Self {
        Fence {
            leased: false,
            state: Mutex::new(State::Open),
            refused: Counter::default(),
        }
    }

    /// For a `serve` process that shares its database: open while it starts, then as the
    /// lease says.
    pub fn leased(refused: Counter) -> Self {
        Fence {
            leased: true,
            state: Mutex::new(State::Open),
            refused,
        }
    }

    pub fn is_leased(&self) -> bool {
        self.leased
    }

    fn state(&self) -> State {
        *self.state.lock().expect("fence lock")
    }

    fn set(&self, state: State) {
        *self.state.lock().expect("fence lock") = state;
    }

    /// Holds the lease with `token` until `until` (a takeover or a renewal).
    pub fn activate(&self, token: i64, until: Instant) {
        self.set(State::Active { token, until });
    }

    pub fn stand_by(&self) {
        self.set(State::Standby);
    }

    /// The lease is lost: no more outside calls, while the workers finish what they hold.
    /// Their database writes keep the token, which the database refuses once another process
    /// took over, and accepts when nobody did (a send refused here goes back to the queue).
    pub fn stop_calls(&self) {
        let mut state = self.state.lock().expect("fence lock");
        if let State::Active { token, .. } = *state {
            *state = State::Active {
                token,
                until: Instant::now(),
            };
        }
    }

    pub fn role(&self) -> Role {
        match self.state() {
            State::Active { .. } => Role::Active,
            State::Standby => Role::Standby,
            State::Open if self.leased => Role::Standby,
            State::Open => Role::Active,
        }
    }

    /// Asked right before a Gateway send or a homeserver write: a call is only started while
    /// the lease is surely held. (One already started cannot be recalled; the next active
    /// finds its row `sending` and marks it outcome unknown.)
    pub fn check(&self) -> Result<(), NotActive> {
        let allowed = match self.state() {
            State::Open => true,
            State::Active { until, .. } => Instant::now() < until,
            State::Standby => false,
        };
        if allowed {
            Ok(())
        } else {
            self.refused.inc();
            Err(NotActive)
        }
    }

    /// The token a fenced database write must find in the lease row: `None` when nothing is
    /// fenced, -1 (no token is negative) on a standby.
    pub fn token(&self) -> Option<i64> {
        match self.state() {
            State::Open => None,
            State::Standby => Some(-1),
            State::Active { token, .. } => Some(token),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_active_process_stops_calling_out_when_its_deadline_passes() {
        let fence = Fence::leased(Counter::default());
        assert!(fence.check().is_ok(), "starting: open");
        assert_eq!(fence.token(), None);
        fence.stand_by();
        assert_eq!(fence.check(), Err(NotActive));
        assert_eq!(fence.token(), Some(-1));
        fence.activate(7, Instant::now() + Duration::from_secs(60));
        assert_eq!((fence.check(), fence.token()), (Ok(()), Some(7)));
        assert_eq!(fence.role(), Role::Active);
        // Paused past the deadline (SIGSTOP): no more calls, and the database writes still
        // carry the old token, which the next active has replaced.
        fence.activate(7, Instant::now());
        assert_eq!(fence.check(), Err(NotActive));
        assert_eq!(fence.token(), Some(7));
        assert_eq!(fence.refused.get(), 2);
        // The lease lost: calls stop at once, the workers' last writes keep the token.
        fence.activate(8, Instant::now() + Duration::from_secs(60));
        fence.stop_calls();
        assert_eq!((fence.check(), fence.token()), (Err(NotActive), Some(8)));
    }

    #[test]
    fn a_process_alone_on_its_database_is_never_fenced() {
        let fence = Fence::open();
        assert_eq!((fence.check(), fence.token()), (Ok(()), None));
        assert_eq!(fence.role(), Role::Active);
    }
}
