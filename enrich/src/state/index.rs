//! The compact building blocks of the roster: interned names, 128-bit
//! hashes standing in for texts the join only compares, and the identity
//! index from an identifier's hash to the users holding it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_128_with_seed;

/// A 128-bit hash as two words: 8-byte aligned, so map entries stay small.
/// At 128 bits, even ten million texts collide with odds of about 1 in 10^24.
pub type Hash128 = (u64, u64);

/// Hash domain of actor identifiers.
pub const ID_DOMAIN: u64 = 0;
/// Hash domain of roster record keys, so an identifier never equals a key.
pub const KEY_DOMAIN: u64 = 1;

/// The hash of `text` in `domain`.
pub fn hash(domain: u64, text: &str) -> Hash128 {
    let h = xxh3_128_with_seed(text.as_bytes(), domain);
    ((h >> 64) as u64, h as u64)
}

/// A `Hasher` for keys that already are hashes: it just folds their words.
#[derive(Default)]
pub struct Folded(u64);

impl Hasher for Folded {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(23) ^ n;
    }
}

/// Builds [`Folded`] hashers: for maps keyed by [`Hash128`].
pub type PreHashed = BuildHasherDefault<Folded>;

/// A map with a fast (non-cryptographic, randomly seeded) hasher for short
/// text keys: the join does several lookups per event.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Maps names (sourcedIds) to dense `u32` references and back.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FastMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    /// The reference of `name`, made on first use.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 4 billion names");
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    /// The reference of `name`, if it was ever interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The name behind a reference.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// Identifier hash → the users holding it, each with a bit set of the
/// [`IdKind`](super::IdKind)s under which it counts. Nearly every
/// identifier has one holder, kept inline; the rare shared ones (which make
/// an actor ambiguous) live in a side map.
#[derive(Debug, Default)]
pub struct Identities {
    one: HashMap<Hash128, (u32, u8), PreHashed>,
    shared: HashMap<Hash128, Vec<(u32, u8)>, PreHashed>,
}

impl Identities {
    /// Records that user `u` holds `h` under `kinds`.
    pub fn insert(&mut self, h: Hash128, u: u32, kinds: u8) {
        if let Some(holders) = self.shared.get_mut(&h) {
            holders.push((u, kinds));
        } else if let Some(other) = self.one.remove(&h) {
            self.shared.insert(h, vec![other, (u, kinds)]);
        } else {
            self.one.insert(h, (u, kinds));
        }
    }

    /// Records that user `u` no longer holds `h`.
    pub fn remove(&mut self, h: Hash128, u: u32) {
        if let Some(holders) = self.shared.get_mut(&h) {
            holders.retain(|(v, _)| *v != u);
            if let [one] = holders[..] {
                self.shared.remove(&h);
                self.one.insert(h, one);
            }
        } else if self.one.get(&h).is_some_and(|(v, _)| *v == u) {
            self.one.remove(&h);
        }
    }

    /// The holders of `h`.
    pub fn holders(&self, h: Hash128) -> &[(u32, u8)] {
        match self.shared.get(&h) {
            Some(holders) => holders,
            None => self.one.get(&h).map_or(&[], std::slice::from_ref),
        }
    }
}
