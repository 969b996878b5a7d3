//! Reaching the Coordinator's user API over attested TLS, and telling apart why it failed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use chiaro_api::transport::ChannelSession;
use chiaro_api::v1::user_api_client::UserApiClient;
use chiaro_atls::ClientConfig;
use chiaro_attest::UnixTime;
use chiaro_manifest::CoordinatorReference;
use tonic::transport::Channel;

use crate::cli::CoordinatorArgs;
use crate::exit::Outcome;
use crate::input;

/// What the Coordinator must be, read before connecting.
#[derive(Debug)]
pub(crate) struct Target {
    address: SocketAddr,
    reference: CoordinatorReference,
    now: Option<UnixTime>,
}

impl Target {
    /// Reads the flags; a bad address or reference file is a usage error.
    pub(crate) fn from_args(args: &CoordinatorArgs) -> anyhow::Result<Self> {
        let address = args
            .coordinator
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", args.coordinator))?
            .next()
            .ok_or_else(|| anyhow!("{} resolves to no address", args.coordinator))?;
        let text = String::from_utf8(input::read(
            &args.coordinator_reference,
            "Coordinator reference values",
        )?)
        .with_context(|| format!("{} is not UTF-8", args.coordinator_reference.display()))?;
        let reference = CoordinatorReference::parse(&text).with_context(|| {
            format!(
                "Coordinator reference values {}",
                args.coordinator_reference.display()
            )
        })?;
        let now = args
            .at
            .as_deref()
            .map(|at| input::verification_time(Some(at)))
            .transpose()?;
        Ok(Self {
            address,
            reference,
            now,
        })
    }

    /// Warnings to show before trusting this Coordinator.
    pub(crate) fn warnings(&self) -> Vec<String> {
        if self
            .reference
            .reference_values()
            .insecure_simulated
            .is_empty()
        {
            Vec::new()
        } else {
            vec!["WARNING: the Coordinator reference values accept the INSECURE simulated TEE: its evidence proves nothing about hardware".to_owned()]
        }
    }

    /// A user-API client whose connection attested the Coordinator.
    pub(crate) async fn connect(&self) -> anyhow::Result<UserApiClient<Channel>> {
        Ok(self.connect_bound().await?.0)
    }

    /// [`Target::connect`], and the session binding of its connection.
    pub(crate) async fn connect_bound(
        &self,
    ) -> anyhow::Result<(UserApiClient<Channel>, ChannelSession)> {
        let validator =
            chiaro_api::validation::reference_validator(self.reference.reference_values())
                .context("the Coordinator's reference values")?;
        let now = self.now;
        let clock: chiaro_atls::Clock = Arc::new(move || now.unwrap_or_else(system_now));
        let tls = Arc::new(ClientConfig::new(Arc::new(validator), None, clock)?);
        let (channel, session) = chiaro_api::transport::bound_channel(self.address, tls)
            .await
            .with_context(|| format!("connecting to the Coordinator at {}", self.address))?;
        Ok((UserApiClient::new(channel), session))
    }
}

fn system_now() -> UnixTime {
    input::verification_time(None).unwrap_or(UnixTime::from_secs(0))
}

/// The exit for a failed deployment command: a refused Coordinator attestation is a rejection
/// (3), anything else a failure (1).
pub(crate) fn outcome_of(error: &anyhow::Error) -> Outcome {
    let refused = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<chiaro_atls::AtlsError>(),
            Some(
                chiaro_atls::AtlsError::Evidence(_)
                    | chiaro_atls::AtlsError::EvidenceNotBound
                    | chiaro_atls::AtlsError::PeerNotAttested
            )
        )
    });
    if refused {
        Outcome::Rejected
    } else {
        Outcome::Failed
    }
}

/// A runtime for one command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
