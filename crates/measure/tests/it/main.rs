//! Integration tests of `chiaro-measure`: the published vectors, a live sev-snp-measure, typed
//! errors on malformed firmware, and the scalable digest against the direct one.

mod errors;
mod oracle;
mod scalable;
mod synthetic;
mod vectors;

/// Whether measuring `ovmf` adds few enough pages for a loop over many images: a changed size
/// can make a section of a million zero pages, which measures (correctly) but slowly.
pub(crate) fn cheap_to_measure(ovmf: &chiaro_measure::snp::Ovmf<'_>) -> bool {
    ovmf.sections()
        .iter()
        .map(|s| u64::from(s.size))
        .sum::<u64>()
        <= 1 << 20
}

/// A small seeded generator (SplitMix64): the tests' random inputs, the same on every run.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) const fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound` > 0).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// A value in `low..=high`.
    pub(crate) fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    pub(crate) fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Random bytes, at most `max` of them.
    pub(crate) fn blob(&mut self, max: u64) -> Vec<u8> {
        let len = self.below(max + 1) as usize;
        self.bytes(len)
    }

    /// A kernel command line: printable ASCII with now and then a non-ASCII character, or none.
    pub(crate) fn cmdline(&mut self) -> String {
        let len = self.below(120) as usize;
        (0..len)
            .map(|_| match self.below(20) {
                0 => *self.pick(&['é', 'ß', '→', '中']),
                _ => char::from(self.range(0x20, 0x7e) as u8),
            })
            .collect()
    }
}
