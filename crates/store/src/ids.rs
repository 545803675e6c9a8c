use tokio::sync::Mutex;

use crate::backend::{with_tx, Tx};
use crate::error::Result;

/// Hands out ids from a database sequence in blocks, so the hot path needs no round trip per new
/// row and several Hatchery processes on one PostgreSQL never hand out the same id.
pub(crate) struct IdAllocator {
    name: &'static str,
    block: Mutex<(i64, i64)>,
}

const BLOCK: i64 = 1_000;

impl IdAllocator {
    pub(crate) fn new(name: &'static str) -> Self {
        IdAllocator {
            name,
            block: Mutex::new((0, 0)),
        }
    }

    /// Takes `n` ids. Reserving a new block runs inside `tx`; if `tx` rolls back, the block is
    /// reserved again later and ids simply skip — never repeat, because the in-memory block is only
    /// kept once the caller commits (see `forget_block`).
    pub(crate) async fn take(&self, tx: &mut Tx, n: usize) -> Result<Vec<i64>> {
        let mut b = self.block.lock().await;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if b.0 >= b.1 {
                let want = BLOCK.max((n - out.len()) as i64);
                let end: i64 = with_tx!(tx, c => sqlx::query_scalar(
                    "UPDATE id_sequences SET next_value = next_value + $1 WHERE name = $2 RETURNING next_value",
                )
                .bind(want)
                .bind(self.name)
                .fetch_one(&mut *c)
                .await?);
                *b = (end - want, end);
            }
            out.push(b.0);
            b.0 += 1;
        }
        Ok(out)
    }

    /// Drops the cached block, used after a rollback that may have undone its reservation.
    pub(crate) async fn forget_block(&self) {
        *self.block.lock().await = (0, 0);
    }
}
