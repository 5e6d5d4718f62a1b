//! The write database's key locks: every command that emits events locks
//! its partition key first (see [`crate::idempotency`]).

use contracts::ids::UserId;

/// The lock object of a partition key. Ids fold into 32 bits; two ids that
/// fold alike only share a lock, which serialises their commands and
/// changes nothing else (a command takes one key lock, so no deadlock).
pub fn partition_lock_object(key: UserId) -> i32 {
    let id = key.0 as u64;
    (id ^ (id >> 32)) as u32 as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ids_are_their_own_lock_object() {
        assert_eq!(partition_lock_object(UserId(42)), 42);
        assert_eq!(
            partition_lock_object(UserId(0x6f75_7462_6f78)),
            0x6f75 ^ 0x7462_6f78
        );
    }
}
