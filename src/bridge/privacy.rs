//! What the works council's settings (`privacy:`) let someone see of drivers' reading: per
//! person, as counts, or not at all. Pure: the renderers of `status`, boards and reports ask.

use crate::config::{Level, PrivacyConfig, ReadReceipts, ReceiptDetail};

/// What one view may show of drivers' reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadView {
    /// Per recipient (names with times); otherwise counts only.
    pub per_person: bool,
    /// Reading at all (counted or per person); off for groups under `privacy.minimum_group`.
    pub reads: bool,
}

impl ReadView {
    pub const FULL: ReadView = ReadView {
        per_person: true,
        reads: true,
    };
}

impl PrivacyConfig {
    /// What `viewer` may see about `group` recipients; `None` is a room many see (a board, a
    /// portal), which shows per-person detail only when every dispatcher may see it.
    pub fn view(&self, viewer: Option<Level>, group: usize) -> ReadView {
        let per_person = match (self.receipt_detail, viewer) {
            (ReceiptDetail::Nobody, _) => false,
            (ReceiptDetail::Dispatchers, _) => true,
            (ReceiptDetail::Admins, Some(level)) => level >= Level::Admin,
            (ReceiptDetail::Admins, None) => false,
        };
        ReadView {
            per_person,
            reads: group >= self.minimum_group,
        }
    }

    /// Whether portals show each driver's reading (the read marker and the ghost's read
    /// receipt): every member sees those.
    pub fn reads_in_portals(&self, mode: ReadReceipts) -> bool {
        matches!(mode, ReadReceipts::On | ReadReceipts::TrackOnly)
            && self.view(None, 1) == ReadView::FULL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privacy(receipt_detail: ReceiptDetail, minimum_group: usize) -> PrivacyConfig {
        PrivacyConfig {
            receipt_detail,
            minimum_group,
        }
    }

    #[test]
    fn per_person_detail_follows_receipt_detail_and_reads_the_minimum_group() {
        let admins = privacy(ReceiptDetail::Admins, 0);
        assert!(admins.view(Some(Level::Admin), 1).per_person);
        assert!(!admins.view(Some(Level::Dispatcher), 1).per_person);
        assert!(!admins.view(None, 1).per_person);
        assert!(admins.view(Some(Level::Dispatcher), 1).reads, "counts stay");
        let nobody = privacy(ReceiptDetail::Nobody, 0);
        assert!(!nobody.view(Some(Level::Admin), 50).per_person);
        let everyone = privacy(ReceiptDetail::Dispatchers, 5);
        assert_eq!(everyone.view(Some(Level::Dispatcher), 5), ReadView::FULL);
        assert!(!everyone.view(Some(Level::Admin), 4).reads);
    }

    #[test]
    fn portals_show_reading_only_when_every_member_may_see_it() {
        let default = PrivacyConfig::default();
        assert!(default.reads_in_portals(ReadReceipts::On));
        assert!(default.reads_in_portals(ReadReceipts::TrackOnly));
        assert!(!default.reads_in_portals(ReadReceipts::Aggregate));
        assert!(!privacy(ReceiptDetail::Admins, 0).reads_in_portals(ReadReceipts::On));
        assert!(!privacy(ReceiptDetail::Dispatchers, 2).reads_in_portals(ReadReceipts::On));
    }
}
