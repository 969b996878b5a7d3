//! The owner's side of `NewOwnerClientCert` (`docs/port-forward.md`): an ephemeral P-256 key
//! for this session, the owner's signature over the deployment, its latest transition, this
//! connection and that key, and the certificate the Coordinator answers with, checked against
//! what this side verified.

use anyhow::{Context as _, bail};
use chiaro_api::history::owner_to_wire;
use chiaro_api::transport::ChannelSession;
use chiaro_api::v1::NewOwnerClientCertRequest;
use chiaro_api::v1::user_api_client::UserApiClient;
use chiaro_manifest::{DeploymentId, TransitionHash, owner_client_cert_message};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tonic::transport::Channel;

use crate::commands::deployment::OwnerSigner;

/// Why the Coordinator's answer is not taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OwnerCertRefused {
    #[error(
        "the Coordinator refused the owner client certificate: {0} (a forward verifies the \
         deployment once, at its start: after a manifest update, run it again)"
    )]
    Coordinator(String),
    #[error(
        "the Coordinator issued the owner certificate under transition {actual}, not the \
         latest one verified ({expected}): the manifest changed meanwhile; run again"
    )]
    OtherTransition { expected: String, actual: String },
    #[error(
        "the Coordinator issued the owner certificate under a mesh CA other than the one it \
         served with the verified history: run again"
    )]
    OtherMeshCa,
}

/// A client identity for the mesh: the owner certificate and its key.
pub(crate) struct OwnerIdentity {
    pub(crate) certificate: CertificateDer<'static>,
    pub(crate) key: PrivateKeyDer<'static>,
    /// The end of its validity (Unix seconds).
    pub(crate) not_after: u64,
}

/// What the owner's request is bound to: this deployment at its latest verified transition,
/// under the mesh CA served with it.
pub(crate) struct Binding<'a> {
    pub(crate) deployment: DeploymentId,
    pub(crate) latest: TransitionHash,
    pub(crate) mesh_ca: &'a [u8],
}

/// Asks for a certificate valid until `not_after` over the attested connection `client`
/// (whose session binding `session` gives), signed by `signer`.
pub(crate) async fn request(
    client: &mut UserApiClient<Channel>,
    session: &ChannelSession,
    signer: &OwnerSigner,
    binding: &Binding<'_>,
    not_after: u64,
) -> anyhow::Result<OwnerIdentity> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("drawing the session key")?;
    let point: [u8; 65] = key
        .public_key_raw()
        .try_into()
        .map_err(|_| anyhow::anyhow!("the session key is not an uncompressed P-256 point"))?;
    let session = session
        .current()
        .context("the connection has no session binding")?;
    let message = owner_client_cert_message(
        &binding.deployment,
        &binding.latest,
        session.as_bytes(),
        &point,
        not_after,
    );
    let owner = signer.sign(&message)?;
    let response = match client
        .new_owner_client_cert(NewOwnerClientCertRequest {
            public_key: point.to_vec(),
            not_after,
            owner: Some(owner_to_wire(&owner)),
        })
        .await
    {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::PermissionDenied => {
            return Err(OwnerCertRefused::Coordinator(status.message().to_owned()).into());
        }
        Err(status) => bail!("asking for an owner client certificate: {status}"),
    };
    if response.transition_hash != binding.latest.as_bytes() {
        return Err(OwnerCertRefused::OtherTransition {
            expected: binding.latest.to_string(),
            actual: hex::encode(&response.transition_hash),
        }
        .into());
    }
    if response.mesh_ca != binding.mesh_ca {
        return Err(OwnerCertRefused::OtherMeshCa.into());
    }
    Ok(OwnerIdentity {
        certificate: CertificateDer::from(response.certificate),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        not_after,
    })
}
