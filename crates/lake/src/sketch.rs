//! A mergeable count of distinct values, small when the values are few: the exact set of
//! their 64-bit hashes up to [`SPARSE_MAX`] values, a HyperLogLog of 2^[`P`] registers
//! beyond (1.6% standard error).
//!
//! Most rows of the hourly rollup see one to three source addresses, so most sketches are
//! a few bytes and count exactly; the rare busy row costs 4 KiB. Two sketches merge into
//! the sketch of the union of their values, which is what lets hourly rows fold into days,
//! runs into compacted files, and any grouping of rows answer a distinct count.
//!
//! The hash ([`hash`]) is part of the stored format: FNV-1a over the bytes, then
//! MurmurHash3's 64-bit finalizer. It never changes, or sketches written by older builds
//! would not merge with new ones.
//!
//! Encoding: a first byte [`SPARSE`] followed by sorted distinct little-endian `u64`
//! hashes, or [`DENSE`] followed by the 2^P one-byte registers.

/// Distinct values a sketch keeps exactly.
pub const SPARSE_MAX: usize = 64;
/// HyperLogLog precision: 2^12 registers.
pub const P: u32 = 12;
const REGISTERS: usize = 1 << P;
/// First byte of a sparse sketch.
pub const SPARSE: u8 = 1;
/// First byte of a dense sketch.
pub const DENSE: u8 = 2;

/// The stable 64-bit hash of a value's bytes.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // MurmurHash3 fmix64: FNV's low bits are weak, HyperLogLog uses them for the register.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A distinct count being built or merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sketch {
    /// The exact hashes, sorted.
    Sparse(Vec<u64>),
    /// HyperLogLog registers.
    Dense(Box<[u8]>),
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::Sparse(Vec::new())
    }
}

/// A sketch's bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSketch(pub String);

impl std::fmt::Display for BadSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a distinct-count sketch: {}", self.0)
    }
}

impl std::error::Error for BadSketch {}

impl Sketch {
    /// Adds one value by its [`hash`].
    pub fn insert_hash(&mut self, h: u64) {
        match self {
            Sketch::Sparse(v) => {
                if let Err(at) = v.binary_search(&h) {
                    v.insert(at, h);
                    if v.len() > SPARSE_MAX {
                        *self = Sketch::Dense(densify(v));
                    }
                }
            }
            Sketch::Dense(r) => register(r, h),
        }
    }

    /// Adds the values of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        match (&mut *self, other) {
            (_, Sketch::Sparse(v)) => {
                for h in v {
                    self.insert_hash(*h);
                }
            }
            (Sketch::Dense(a), Sketch::Dense(b)) => {
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    *x = (*x).max(*y);
                }
            }
            (Sketch::Sparse(v), Sketch::Dense(b)) => {
                let mut r = b.clone();
                for h in v.iter() {
                    register(&mut r, *h);
                }
                *self = Sketch::Dense(r);
            }
        }
    }

    /// The number of distinct values: exact while sparse, HyperLogLog's estimate (with
    /// linear counting for small cardinalities) once dense.
    pub fn estimate(&self) -> u64 {
        match self {
            Sketch::Sparse(v) => v.len() as u64,
            Sketch::Dense(r) => {
                let m = REGISTERS as f64;
                let sum: f64 = r.iter().map(|&x| 2f64.powi(-i32::from(x))).sum();
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let raw = alpha * m * m / sum;
                let zeros = r.iter().filter(|&&x| x == 0).count();
                if raw <= 2.5 * m && zeros > 0 {
                    (m * (m / zeros as f64).ln()).round() as u64
                } else {
                    raw.round() as u64
                }
            }
        }
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Sketch::Sparse(v) => {
                let mut out = Vec::with_capacity(1 + 8 * v.len());
                out.push(SPARSE);
                for h in v {
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            Sketch::Dense(r) => {
                let mut out = Vec::with_capacity(1 + r.len());
                out.push(DENSE);
                out.extend_from_slice(r);
                out
            }
        }
    }

    /// Reads the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sketch, BadSketch> {
        match bytes.split_first() {
            Some((&SPARSE, rest)) if rest.len().is_multiple_of(8) => {
                let v: Vec<u64> =
                    rest.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
                if v.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(BadSketch("sparse hashes out of order".into()));
                }
                Ok(Sketch::Sparse(v))
            }
            Some((&DENSE, rest)) if rest.len() == REGISTERS => Ok(Sketch::Dense(rest.into())),
            Some((kind, rest)) => Err(BadSketch(format!("kind {kind} with {} bytes", rest.len()))),
            None => Err(BadSketch("empty".into())),
        }
    }

    /// Merges a stored sketch into this one.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<(), BadSketch> {
        // The common case, a few sparse hashes, without building a second sketch.
        if let Some((&SPARSE, rest)) = bytes.split_first()
            && rest.len().is_multiple_of(8)
        {
            for c in rest.chunks_exact(8) {
                self.insert_hash(u64::from_le_bytes(c.try_into().expect("8 bytes")));
            }
            return Ok(());
        }
        self.merge(&Sketch::from_bytes(bytes)?);
        Ok(())
    }
}

fn densify(hashes: &[u64]) -> Box<[u8]> {
    let mut r = vec![0u8; REGISTERS].into_boxed_slice();
    for h in hashes {
        register(&mut r, *h);
    }
    r
}

fn register(r: &mut [u8], h: u64) {
    let index = (h >> (64 - P)) as usize;
    let rest = (h << P) | (1 << (P - 1));
    let rank = rest.leading_zeros() as u8 + 1;
    if r[index] < rank {
        r[index] = rank;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: impl IntoIterator<Item = String>) -> Sketch {
        let mut s = Sketch::default();
        for v in values {
            s.insert_hash(hash(v.as_bytes()));
        }
        s
    }

    #[test]
    fn a_few_values_count_exactly_and_repeat_values_count_once() {
        let s = of(["10.0.0.1", "10.0.0.2", "10.0.0.1"].map(String::from));
        assert_eq!(s.estimate(), 2);
        assert_eq!(Sketch::from_bytes(&s.to_bytes()), Ok(s.clone()));
        assert_eq!(s.to_bytes().len(), 17);
    }

    #[test]
    fn many_values_estimate_within_a_few_percent_and_merge_as_their_union() {
        let a = of((0..30_000).map(|i| format!("198.51.{}.{}", i / 256, i % 256)));
        let b = of((20_000..50_000).map(|i| format!("198.51.{}.{}", i / 256, i % 256)));
        assert!(matches!(a, Sketch::Dense(_)));
        let err = |s: &Sketch, n: f64| (s.estimate() as f64 - n).abs() / n;
        assert!(err(&a, 30_000.0) < 0.05, "{}", a.estimate());
        let mut u = a.clone();
        u.merge(&b);
        assert!(err(&u, 50_000.0) < 0.05, "{}", u.estimate());
        // Merging in either order, sparse into dense or dense into sparse, is the same.
        let small = of((0..10).map(|i| format!("203.0.113.{i}")));
        let mut x = small.clone();
        x.merge(&a);
        let mut y = a.clone();
        y.merge_bytes(&small.to_bytes()).unwrap();
        assert_eq!(x, y);
        assert_eq!(Sketch::from_bytes(&y.to_bytes()), Ok(y));
    }

    #[test]
    fn crossing_the_sparse_limit_keeps_counting_closely() {
        let s = of((0..SPARSE_MAX + 1).map(|i| format!("192.0.2.{i}")));
        assert!(matches!(s, Sketch::Dense(_)));
        let e = s.estimate() as i64;
        assert!((e - (SPARSE_MAX as i64 + 1)).abs() <= 2, "{e}");
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // Stored sketches depend on it: this value must never change.
        assert_eq!(hash(b"203.0.113.7"), hash(b"203.0.113.7"));
        assert_eq!(format!("{:016x}", hash(b"")), format!("{:016x}", hash(&[])));
        assert_eq!(format!("{:016x}", hash(b"10.0.0.1")), STABLE_10_0_0_1);
    }

    const STABLE_10_0_0_1: &str = "c879e56ddc6c5c88";

    #[test]
    fn bad_bytes_are_an_error() {
        assert!(Sketch::from_bytes(&[]).is_err());
        assert!(Sketch::from_bytes(&[SPARSE, 1, 2]).is_err());
        assert!(Sketch::from_bytes(&[DENSE, 0]).is_err());
        assert!(Sketch::from_bytes(&[9]).is_err());
    }
}
