//! Validity windows of certificates and collateral, checked against the verification time.
//!
//! Being outside a window is never a rejection: the evidence may be fine and the collateral
//! merely stale, so it is [`Unavailable`] and a retry with fresh collateral may succeed.

use x509_cert::crl::TbsCertList;
use x509_cert::time::{Time, Validity};

use crate::UnixTime;
use crate::error::Unavailable;

/// A window `[from, until]`; `until` is open for a CRL without `nextUpdate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) from: UnixTime,
    pub(crate) until: Option<UnixTime>,
}

impl Window {
    /// A certificate's `notBefore` to `notAfter`.
    pub(crate) fn of_certificate(validity: &Validity) -> Self {
        Self {
            from: unix(validity.not_before),
            until: Some(unix(validity.not_after)),
        }
    }

    /// A CRL's `thisUpdate` to `nextUpdate`.
    pub(crate) fn of_crl(list: &TbsCertList) -> Self {
        Self {
            from: unix(list.this_update),
            until: list.next_update.map(unix),
        }
    }

    /// For a certificate named `what`.
    pub(crate) fn check_certificate(
        &self,
        what: impl FnOnce() -> String,
        now: UnixTime,
    ) -> Result<(), Unavailable> {
        if now < self.from {
            return Err(Unavailable::CertificateNotYetValid {
                what: what(),
                not_before: self.from,
                now,
            });
        }
        match self.until {
            Some(not_after) if now > not_after => Err(Unavailable::CertificateExpired {
                what: what(),
                not_after,
                now,
            }),
            _ => Ok(()),
        }
    }

    /// For collateral (CRL, TCB info, QE identity) named `what`.
    pub(crate) fn check_collateral(&self, what: &str, now: UnixTime) -> Result<(), Unavailable> {
        if now < self.from {
            return Err(Unavailable::CollateralNotYetValid {
                what: what.to_owned(),
                issued: self.from,
                now,
            });
        }
        match self.until {
            Some(next_update) if now > next_update => Err(Unavailable::CollateralExpired {
                what: what.to_owned(),
                next_update,
                now,
            }),
            _ => Ok(()),
        }
    }
}

fn unix(time: Time) -> UnixTime {
    UnixTime::from_secs(time.to_unix_duration().as_secs())
}
