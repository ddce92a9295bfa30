//! The chain: each entry's leaf hash over its length-prefixed fields, each head the hash of the
//! previous head and the leaf, as RFC 6962 hashes leaves (`0x00 ‖ data`) and nodes
//! (`0x01 ‖ left ‖ right`). Any change to a stored field changes that entry's leaf; a deleted
//! entry leaves a gap in the sequence numbers; a rewritten tail no longer ends in a head that
//! was checkpointed.

use sha2::{Digest, Sha256};

/// A SHA-256 value, shown and stored as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The head before the first entry.
    pub const ZERO: Hash = Hash([0; 32]);

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn parse(hex_text: &str) -> Option<Hash> {
        let mut out = [0; 32];
        hex::decode_to_slice(hex_text, &mut out).ok()?;
        Some(Hash(out))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// One entry as stored: the sequence number, the time, the action word, and for actor and
/// subject a keyed hash (`*_ref`, what lookups use) and the sealed value; `details` sealed
/// under the subject's key. Every field is part of the leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEntry {
    pub seq: i64,
    pub at: i64,
    pub action: String,
    pub actor_ref: String,
    pub actor: String,
    pub subject_ref: String,
    pub subject: String,
    pub details: String,
}

impl SealedEntry {
    /// `SHA-256(0x00 ‖ field…)`, each field as its 8-byte big-endian length and its bytes, so
    /// that no two different entries serialise alike.
    pub fn leaf(&self) -> Hash {
        let mut hash = Sha256::new();
        hash.update([0u8]);
        let seq = self.seq.to_be_bytes();
        let at = self.at.to_be_bytes();
        for field in [
            &seq[..],
            &at[..],
            self.action.as_bytes(),
            self.actor_ref.as_bytes(),
            self.actor.as_bytes(),
            self.subject_ref.as_bytes(),
            self.subject.as_bytes(),
            self.details.as_bytes(),
        ] {
            hash.update((field.len() as u64).to_be_bytes());
            hash.update(field);
        }
        Hash(hash.finalize().into())
    }
}

/// `SHA-256(0x01 ‖ previous head ‖ leaf)`.
pub fn link(previous: Hash, leaf: Hash) -> Hash {
    let mut hash = Sha256::new();
    hash.update([1u8]);
    hash.update(previous.0);
    hash.update(leaf.0);
    Hash(hash.finalize().into())
}

/// Where the kept chain begins: the first sequence number and the head before it (zero at the
/// very start, the last pruned entry's head after retention pruned a prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainStart {
    pub first_seq: i64,
    pub previous: Hash,
}

impl ChainStart {
    pub const GENESIS: ChainStart = ChainStart {
        first_seq: 1,
        previous: Hash::ZERO,
    };

    /// How the pruning entry (`audit.pruned`) states this start, for `audit verify` to find.
    pub fn record(&self) -> String {
        format!(
            "the chain now starts at entry {} after head {}",
            self.first_seq, self.previous
        )
    }
}

/// A chain that verified: how many entries, the last sequence number and the head after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub last_seq: i64,
    pub head: Hash,
}

/// The first thing that does not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("entry {seq} does not match its hash (a field was changed)")]
    Leaf { seq: i64 },
    #[error("entry {seq} does not follow from the entry before it (its chain hash was changed)")]
    Head { seq: i64 },
    #[error("{}", missing(*from, *to))]
    Gap { from: i64, to: i64 },
    #[error("entry {seq} is stored under a sequence number out of order")]
    Order { seq: i64 },
    #[error(
        "the chain ends at entry {last} but the database's head says {expected} entries were written (the newest were deleted)"
    )]
    Truncated { last: i64, expected: i64 },
    #[error("the chain's head does not match the head recorded after entry {seq}")]
    RecordedHead { seq: i64 },
    #[error(
        "the chain starts at entry {first_seq}, but no retention run recorded that start (entries were deleted from its beginning)"
    )]
    UnrecordedStart { first_seq: i64 },
    #[error("entry {seq} lies beyond the recorded end of the chain (added outside the bridge)")]
    Beyond { seq: i64 },
}

fn missing(from: i64, to: i64) -> String {
    if from == to {
        format!("entry {from} is missing (deleted)")
    } else {
        format!("entries {from} to {to} are missing (deleted)")
    }
}

/// Walks entries in sequence order, checking each stored leaf and head against what its fields
/// give; feed it every entry, then `finish`.
#[derive(Debug)]
pub struct Walker {
    expected_seq: i64,
    head: Hash,
    entries: u64,
}

impl Walker {
    pub fn new(start: ChainStart) -> Self {
        Walker {
            expected_seq: start.first_seq,
            head: start.previous,
            entries: 0,
        }
    }

    /// Checks one entry with the leaf and head stored beside it; returns the head after it.
    pub fn step(
        &mut self,
        entry: &SealedEntry,
        stored_leaf: &str,
        stored_head: &str,
    ) -> Result<Hash, Break> {
        let seq = entry.seq;
        if seq > self.expected_seq {
            return Err(Break::Gap {
                from: self.expected_seq,
                to: seq - 1,
            });
        }
        if seq < self.expected_seq {
            return Err(Break::Order { seq });
        }
        let leaf = entry.leaf();
        if Hash::parse(stored_leaf) != Some(leaf) {
            return Err(Break::Leaf { seq });
        }
        let head = link(self.head, leaf);
        if Hash::parse(stored_head) != Some(head) {
            return Err(Break::Head { seq });
        }
        self.head = head;
        self.expected_seq += 1;
        self.entries += 1;
        Ok(head)
    }

    /// After the last entry: the chain must end where the recorded head (sequence number and
    /// hash, kept beside the chain and updated with every append) says.
    pub fn finish(self, recorded_seq: i64, recorded_head: Hash) -> Result<Verified, Break> {
        let last = self.expected_seq - 1;
        if last < recorded_seq {
            return Err(Break::Truncated {
                last,
                expected: recorded_seq,
            });
        }
        if last > recorded_seq || self.head != recorded_head {
            return Err(Break::RecordedHead { seq: last });
        }
        Ok(Verified {
            entries: self.entries,
            last_seq: last,
            head: self.head,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64) -> SealedEntry {
        SealedEntry {
            seq,
            at: 1_000 + seq,
            action: "message.sent".into(),
            actor_ref: "a".into(),
            actor: "sealed actor".into(),
            subject_ref: "s".into(),
            subject: "sealed subject".into(),
            details: "sealed details".into(),
        }
    }

    /// Entries 1..=n with their stored leaf and head.
    fn chain(n: i64) -> Vec<(SealedEntry, String, String)> {
        let mut head = Hash::ZERO;
        (1..=n)
            .map(|seq| {
                let e = entry(seq);
                let leaf = e.leaf();
                head = link(head, leaf);
                (e, leaf.hex(), head.hex())
            })
            .collect()
    }

    fn walk(
        rows: &[(SealedEntry, String, String)],
        recorded: (i64, Hash),
    ) -> Result<Verified, Break> {
        let mut walker = Walker::new(ChainStart::GENESIS);
        for (e, leaf, head) in rows {
            walker.step(e, leaf, head)?;
        }
        walker.finish(recorded.0, recorded.1)
    }

    #[test]
    fn an_untouched_chain_verifies_and_any_changed_field_breaks_at_its_entry() {
        let rows = chain(5);
        let head = Hash::parse(&rows[4].2).unwrap();
        let ok = walk(&rows, (5, head)).unwrap();
        assert_eq!((ok.entries, ok.last_seq, ok.head), (5, 5, head));

        let changes: [fn(&mut SealedEntry); 7] = [
            |e| e.at += 1,
            |e| e.action.push('x'),
            |e| e.actor_ref.push('x'),
            |e| e.actor.push('x'),
            |e| e.subject_ref.push('x'),
            |e| e.subject.push('x'),
            |e| e.details.push('x'),
        ];
        for change in changes {
            let mut rows = rows.clone();
            change(&mut rows[2].0);
            assert_eq!(walk(&rows, (5, head)), Err(Break::Leaf { seq: 3 }));
        }
        let mut bad_head = rows.clone();
        bad_head[1].2 = Hash([7; 32]).hex();
        assert_eq!(walk(&bad_head, (5, head)), Err(Break::Head { seq: 2 }));
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_leaf() {
        let a = entry(1);
        let mut b = a.clone();
        b.actor = "sealed acto".into();
        b.subject_ref = "rs".into();
        assert_ne!(a.leaf(), b.leaf());
    }

    #[test]
    fn deleted_entries_are_gaps_and_a_cut_tail_is_truncation() {
        let rows = chain(5);
        let head = Hash::parse(&rows[4].2).unwrap();
        let mut gap = rows.clone();
        gap.remove(1);
        assert_eq!(walk(&gap, (5, head)), Err(Break::Gap { from: 2, to: 2 }));
        let cut = &rows[..3];
        assert_eq!(
            walk(cut, (5, head)),
            Err(Break::Truncated {
                last: 3,
                expected: 5
            })
        );
        // A rewritten recorded head is caught too.
        assert_eq!(
            walk(&rows, (5, Hash::ZERO)),
            Err(Break::RecordedHead { seq: 5 })
        );
    }

    #[test]
    fn a_pruned_prefix_verifies_from_the_recorded_start() {
        let rows = chain(5);
        let start = ChainStart {
            first_seq: 3,
            previous: Hash::parse(&rows[1].2).unwrap(),
        };
        let mut walker = Walker::new(start);
        for (e, leaf, head) in &rows[2..] {
            walker.step(e, leaf, head).unwrap();
        }
        let head = Hash::parse(&rows[4].2).unwrap();
        assert_eq!(walker.finish(5, head).unwrap().entries, 3);
        // The same entries from a forged start do not.
        let mut walker = Walker::new(ChainStart {
            first_seq: 3,
            previous: Hash::ZERO,
        });
        assert_eq!(
            walker.step(&rows[2].0, &rows[2].1, &rows[2].2),
            Err(Break::Head { seq: 3 })
        );
    }
}
