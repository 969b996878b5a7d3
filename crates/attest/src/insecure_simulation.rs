//! **Insecure**: a simulated SEV-SNP TEE for local mode and tests.
//!
//! [`InsecureSimulatedTee`] generates its own ARK → ASK → VCEK chain with AMD's algorithms
//! (RSA-4096 RSASSA-PSS/SHA-384 above an ECDSA P-384 VCEK that carries AMD's TCB and hwID
//! extensions) and signs reports in the SNP format. They are verified by the *same*
//! [`crate::snp::verify`] code, with the simulated root passed in as the trust anchor, and come
//! out as [`crate::Platform::InsecureSimulated`].
//!
//! Whoever holds the generated keys can forge any report: the evidence proves nothing about
//! hardware. Nothing here is used unless a caller asks for it by name.

use std::fmt;
use std::str::FromStr;

use der::asn1::{Ia5String, OctetString};
use der::{Decode, Encode};
use p384::ecdsa::signature::Signer;
use p384::pkcs8::EncodePublicKey;
use rsa::Generate;
use rsa::rand_core::UnwrapErr;
use sha2::Sha384;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

use crate::UnixTime;
use crate::fields::{ChipId, Digest48, HostData, Measurement, ReportData};
use crate::snp::report as layout;
use crate::snp::{GuestPolicy, Product, SnpCollateral, SnpTrustAnchors, TcbVersion};

/// The generation the simulated chain claims to be.
const PRODUCT: Product = Product::Milan;
/// The TCB the simulated chip reports and its VCEK certifies.
const SIMULATED_TCB: TcbVersion = TcbVersion {
    fmc: None,
    bootloader: 3,
    tee: 0,
    snp: 8,
    microcode: 115,
};
/// Years the generated certificates stay valid.
const VALIDITY_YEARS: u64 = 25;

/// A locally generated SNP root of trust that signs reports. Proves nothing about hardware.
pub struct InsecureSimulatedTee {
    ark_key: rsa::PrivateKey,
    vcek_key: p384::ecdsa::SigningKey,
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    vcek_der: Vec<u8>,
    chip_id: ChipId,
    tcb: TcbVersion,
}

impl fmt::Debug for InsecureSimulatedTee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsecureSimulatedTee")
            .field("chip_id", &self.chip_id)
            .finish_non_exhaustive()
    }
}

/// What a simulated guest was launched with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedLaunch {
    /// The launch measurement.
    pub measurement: Measurement,
    /// `HOST_DATA` (Chiaro: the initdata digest).
    pub host_data: HostData,
    /// The guest policy (default: SMT allowed, debug off).
    pub policy: GuestPolicy,
    /// The VMPL the report is requested at.
    pub vmpl: u32,
    /// The ID-key digest.
    pub id_key_digest: Digest48,
}

impl Default for SimulatedLaunch {
    fn default() -> Self {
        Self {
            measurement: Measurement::new([0; 48]),
            host_data: HostData::new([0; 32]),
            policy: GuestPolicy::from_raw(0x3_0000),
            vmpl: 0,
            id_key_digest: Digest48::new([0; 48]),
        }
    }
}

/// The simulated chain could not be generated or used.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// RSA key generation failed.
    #[error("simulated TEE: RSA key generation failed")]
    Rsa(#[from] rsa::Error),
    /// The system's randomness failed.
    #[error("simulated TEE: randomness failed")]
    Random(#[from] getrandom::Error),
    /// Signing a report failed.
    #[error("simulated TEE: signing failed")]
    Signing(#[from] p384::ecdsa::Error),
    /// DER encoding or decoding of a certificate, name, time or extension failed.
    #[error("simulated TEE: certificate encoding failed")]
    Der(#[from] der::Error),
    /// A key's PKCS#8 encoding failed.
    #[error("simulated TEE: key encoding failed")]
    Pkcs8(#[from] rsa::pkcs8::Error),
    /// A public key's SPKI encoding failed.
    #[error("simulated TEE: public key encoding failed")]
    Spki(#[from] rsa::pkcs8::spki::Error),
    /// Building a certificate or CRL failed.
    #[error("simulated TEE: certificate building failed")]
    Builder(#[from] x509_cert::builder::Error),
    /// A saved chain is not the JSON [`InsecureSimulatedTee::to_insecure_json`] writes.
    #[error("simulated TEE: the saved chain is not its JSON")]
    Json(#[from] serde_json::Error),
    /// An extension's object identifier is malformed.
    #[error("simulated TEE: object identifier encoding failed")]
    Oid(#[from] der::oid::Error),
    /// The simulated ARK is not a usable root for trust anchors.
    #[error("simulated TEE: the ARK is not a usable root")]
    Anchors(#[from] crate::snp::SnpRejection),
    /// A saved chain has a value that is not hex.
    #[error("simulated TEE: the saved chain has a value that is not hex")]
    Hex(#[from] hex::FromHexError),
}

impl InsecureSimulatedTee {
    /// Generates a fresh chain whose certificates are valid from `not_before` for 25 years.
    ///
    /// # Errors
    /// [`SimulationError`] if key generation or encoding fails.
    pub fn generate(not_before: UnixTime) -> Result<Self, SimulationError> {
        let mut rng = UnwrapErr(getrandom::SysRng);
        let ark_key = rsa::PrivateKey::new(&mut rng, 4096).map_err(SimulationError::from)?;
        let ask_key = rsa::PrivateKey::new(&mut rng, 4096).map_err(SimulationError::from)?;
        let vcek_key = p384::ecdsa::SigningKey::generate_from_rng(&mut rng);
        let mut chip = [0u8; 64];
        getrandom::fill(&mut chip).map_err(SimulationError::from)?;
        let chip_id = ChipId::new(chip);
        let tcb = TcbVersion {
            fmc: None,
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
        };

        let validity = validity(not_before)?;
        let ark_name = name(&format!("CN=ARK-{PRODUCT},OU=Chiaro insecure simulation"))?;
        let ask_name = name(&format!("CN=SEV-{PRODUCT},OU=Chiaro insecure simulation"))?;
        let vcek_name = name("CN=SEV-VCEK,OU=Chiaro insecure simulation")?;

        let ark_der = issue(
            &ark_key,
            rsa_spki(&ark_key)?,
            &ark_name,
            &ark_name,
            1,
            validity,
            Vec::new(),
        )?;
        let ask_der = issue(
            &ark_key,
            rsa_spki(&ask_key)?,
            &ark_name,
            &ask_name,
            2,
            validity,
            Vec::new(),
        )?;
        let vcek_spki = vcek_key
            .verifying_key()
            .to_public_key_der()
            .map_err(SimulationError::from)
            .and_then(|doc| {
                SubjectPublicKeyInfoOwned::from_der(doc.as_bytes()).map_err(SimulationError::from)
            })?;
        let vcek_der = issue(
            &ask_key,
            vcek_spki,
            &ask_name,
            &vcek_name,
            3,
            validity,
            vcek_extensions(&tcb, &chip_id)?,
        )?;
        Ok(Self {
            ark_key,
            vcek_key,
            ark_der,
            ask_der,
            vcek_der,
            chip_id,
            tcb,
        })
    }

    /// The whole simulated TEE, private keys included, as JSON: what local mode writes to disk
    /// so every simulated "machine" shares one simulated chip. Anyone with this text can forge
    /// evidence for this root.
    ///
    /// # Errors
    /// [`SimulationError::Pkcs8`] if a key does not encode.
    pub fn to_insecure_json(&self) -> Result<String, SimulationError> {
        use rsa::pkcs8::EncodePrivateKey as _;
        let ark_key = self.ark_key.to_pkcs8_der().map_err(SimulationError::from)?;
        let vcek_key = p384::pkcs8::EncodePrivateKey::to_pkcs8_der(&self.vcek_key)
            .map_err(SimulationError::from)?;
        let document = serde_json::json!({
            "warning": "INSECURE simulated TEE: these keys forge evidence for its root",
            "ark_key": hex::encode(ark_key.as_bytes()),
            "vcek_key": hex::encode(vcek_key.as_bytes()),
            "ark": hex::encode(&self.ark_der),
            "ask": hex::encode(&self.ask_der),
            "vcek": hex::encode(&self.vcek_der),
            "chip_id": self.chip_id,
        });
        serde_json::to_string_pretty(&document).map_err(SimulationError::from)
    }

    /// Reads what [`InsecureSimulatedTee::to_insecure_json`] wrote.
    ///
    /// # Errors
    /// [`SimulationError`] (JSON, hex, PKCS#8) for anything else.
    pub fn from_insecure_json(text: &str) -> Result<Self, SimulationError> {
        use rsa::pkcs8::DecodePrivateKey as _;
        #[derive(serde::Deserialize)]
        struct Document {
            ark_key: String,
            vcek_key: String,
            ark: String,
            ask: String,
            vcek: String,
            chip_id: ChipId,
        }
        let document: Document = serde_json::from_str(text).map_err(SimulationError::from)?;
        let bytes = |text: &str| hex::decode(text).map_err(SimulationError::from);
        let ark_key = rsa::PrivateKey::from_pkcs8_der(&bytes(&document.ark_key)?)
            .map_err(SimulationError::from)?;
        let vcek_key = <p384::ecdsa::SigningKey as p384::pkcs8::DecodePrivateKey>::from_pkcs8_der(
            &bytes(&document.vcek_key)?,
        )
        .map_err(SimulationError::from)?;
        Ok(Self {
            ark_key,
            vcek_key,
            ark_der: bytes(&document.ark)?,
            ask_der: bytes(&document.ask)?,
            vcek_der: bytes(&document.vcek)?,
            chip_id: document.chip_id,
            tcb: SIMULATED_TCB,
        })
    }

    /// Trust anchors that accept this chain (and only it), as simulated.
    ///
    /// # Errors
    /// [`SimulationError::Der`] if the generated certificates do not decode.
    pub fn trust_anchors(&self) -> Result<SnpTrustAnchors, SimulationError> {
        trust_anchors(&self.ark_der)
    }

    /// The VCEK (DER).
    pub fn vcek_der(&self) -> &[u8] {
        &self.vcek_der
    }

    /// The ASK (DER).
    pub fn ask_der(&self) -> &[u8] {
        &self.ask_der
    }

    /// The VCEK and ASK to send with a report.
    pub fn collateral(&self) -> SnpCollateral {
        SnpCollateral {
            vek: Some(self.vcek_der.clone()),
            intermediates: vec![self.ask_der.clone()],
            roots: Vec::new(),
            crl: None,
        }
    }

    /// The simulated ARK (DER).
    pub fn ark_der(&self) -> &[u8] {
        &self.ark_der
    }

    /// The simulated chip id.
    pub fn chip_id(&self) -> ChipId {
        self.chip_id
    }

    /// Signs a version-3 report for `launch` carrying `report_data`.
    ///
    /// # Errors
    /// [`SimulationError::Signing`] if signing fails.
    pub fn report(
        &self,
        launch: &SimulatedLaunch,
        report_data: &ReportData,
    ) -> Result<Vec<u8>, SimulationError> {
        let mut raw = vec![0u8; layout::REPORT_LEN];
        let tcb = u64::from_le_bytes([
            self.tcb.bootloader,
            self.tcb.tee,
            0,
            0,
            0,
            0,
            self.tcb.snp,
            self.tcb.microcode,
        ]);
        let put = |raw: &mut Vec<u8>, offset: usize, bytes: &[u8]| {
            if let Some(slot) = raw.get_mut(offset..offset.saturating_add(bytes.len())) {
                slot.copy_from_slice(bytes);
            }
        };
        put(&mut raw, layout::VERSION, &3u32.to_le_bytes());
        put(&mut raw, layout::GUEST_SVN, &1u32.to_le_bytes());
        put(&mut raw, layout::POLICY, &launch.policy.raw().to_le_bytes());
        put(&mut raw, layout::VMPL, &launch.vmpl.to_le_bytes());
        put(
            &mut raw,
            layout::SIGNATURE_ALGO,
            &layout::ECDSA_P384_SHA384.to_le_bytes(),
        );
        put(&mut raw, layout::CURRENT_TCB, &tcb.to_le_bytes());
        put(&mut raw, layout::PLATFORM_INFO, &1u64.to_le_bytes());
        put(&mut raw, layout::REPORT_DATA, report_data.as_bytes());
        put(&mut raw, layout::MEASUREMENT, launch.measurement.as_bytes());
        put(&mut raw, layout::HOST_DATA, launch.host_data.as_bytes());
        put(
            &mut raw,
            layout::ID_KEY_DIGEST,
            launch.id_key_digest.as_bytes(),
        );
        put(&mut raw, layout::REPORTED_TCB, &tcb.to_le_bytes());
        put(&mut raw, layout::CPUID_FAM_ID, &[0x19, 0x01, 0x01]);
        put(&mut raw, layout::CHIP_ID, self.chip_id.as_bytes());
        put(&mut raw, layout::COMMITTED_TCB, &tcb.to_le_bytes());
        put(&mut raw, layout::CURRENT_BUILD, &[21, 55, 1]);
        put(&mut raw, layout::COMMITTED_BUILD, &[21, 55, 1]);
        put(&mut raw, layout::LAUNCH_TCB, &tcb.to_le_bytes());
        let signed = raw.get(..layout::SIGNED_LEN).unwrap_or_default();
        let signature: p384::ecdsa::Signature = self
            .vcek_key
            .try_sign(signed)
            .map_err(SimulationError::from)?;
        let be = signature.to_bytes();
        let (r, s) = be.split_at(48);
        let r_le: Vec<u8> = r.iter().rev().copied().collect();
        let s_le: Vec<u8> = s.iter().rev().copied().collect();
        put(&mut raw, layout::SIGNATURE, &r_le);
        put(&mut raw, layout::SIGNATURE + 72, &s_le);
        Ok(raw)
    }

    /// A CRL signed by the simulated ARK, valid from `this_update` to `next_update`, revoking the
    /// ASK when `revoke_ask` is set.
    ///
    /// # Errors
    /// [`SimulationError`] if encoding or signing fails.
    pub fn crl(
        &self,
        revoke_ask: bool,
        this_update: UnixTime,
        next_update: UnixTime,
    ) -> Result<Vec<u8>, SimulationError> {
        let ark = x509_cert::Certificate::from_der(&self.ark_der).map_err(SimulationError::from)?;
        let ask = x509_cert::Certificate::from_der(&self.ask_der).map_err(SimulationError::from)?;
        let revoked = revoke_ask.then(|| x509_cert::crl::RevokedCert {
            serial_number: ask.tbs_certificate().serial_number().clone(),
            revocation_date: time(this_update).unwrap_or(Time::INFINITY),
            crl_entry_extensions: None,
        });
        let builder = x509_cert::builder::CrlBuilder::new_with_this_update(
            &ark,
            x509_cert::ext::pkix::CrlNumber::from(
                der::asn1::Uint::new(&[1]).map_err(SimulationError::from)?,
            ),
            time(this_update)?,
        )
        .map_err(SimulationError::from)?
        .with_next_update(Some(time(next_update)?))
        .with_certificates(revoked.into_iter());
        let signer = rsa::pss::SigningKey::<Sha384>::new(self.ark_key.clone());
        let crl = builder
            .build_with_rng::<_, rsa::pss::Signature, _>(&signer, &mut UnwrapErr(getrandom::SysRng))
            .map_err(SimulationError::from)?;
        crl.to_der().map_err(SimulationError::from)
    }
}

/// **Insecure**: trust anchors for a simulated ARK saved earlier (DER), e.g. by local mode.
/// Evidence verified under them comes out as [`crate::Platform::InsecureSimulated`].
///
/// # Errors
/// [`SimulationError::Anchors`] when the certificate does not decode or has no RSA key.
pub fn trust_anchors(ark_der: &[u8]) -> Result<SnpTrustAnchors, SimulationError> {
    SnpTrustAnchors::insecure_simulated(PRODUCT, ark_der).map_err(SimulationError::from)
}

/// A profile that adds exactly the extensions given, like AMD's certificates.
struct FixedProfile {
    issuer: Name,
    subject: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for FixedProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

fn issue(
    issuer_key: &rsa::PrivateKey,
    spki: SubjectPublicKeyInfoOwned,
    issuer: &Name,
    subject: &Name,
    serial: u32,
    validity: Validity,
    extensions: Vec<Extension>,
) -> Result<Vec<u8>, SimulationError> {
    let profile = FixedProfile {
        issuer: issuer.clone(),
        subject: subject.clone(),
        extensions,
    };
    let builder = CertificateBuilder::new(profile, SerialNumber::from(serial), validity, spki)
        .map_err(SimulationError::from)?;
    let signer = rsa::pss::SigningKey::<Sha384>::new(issuer_key.clone());
    let cert = builder
        .build_with_rng::<_, rsa::pss::Signature, _>(&signer, &mut UnwrapErr(getrandom::SysRng))
        .map_err(SimulationError::from)?;
    cert.to_der().map_err(SimulationError::from)
}

fn rsa_spki(key: &rsa::PrivateKey) -> Result<SubjectPublicKeyInfoOwned, SimulationError> {
    let der = key
        .to_public_key()
        .to_public_key_der()
        .map_err(SimulationError::from)?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(SimulationError::from)
}

fn vcek_extensions(tcb: &TcbVersion, chip_id: &ChipId) -> Result<Vec<Extension>, SimulationError> {
    let extension = |oid: &str, value: Vec<u8>| -> Result<Extension, SimulationError> {
        Ok(Extension {
            extn_id: ObjectIdentifier::new(oid).map_err(SimulationError::from)?,
            critical: false,
            extn_value: OctetString::new(value).map_err(SimulationError::from)?,
        })
    };
    let int = |value: u8| value.to_der().map_err(SimulationError::from);
    let product = Ia5String::new(PRODUCT.name())
        .and_then(|name| name.to_der())
        .map_err(SimulationError::from)?;
    Ok(vec![
        extension("1.3.6.1.4.1.3704.1.1", int(1)?)?,
        extension("1.3.6.1.4.1.3704.1.2", product)?,
        extension("1.3.6.1.4.1.3704.1.3.1", int(tcb.bootloader)?)?,
        extension("1.3.6.1.4.1.3704.1.3.2", int(tcb.tee)?)?,
        extension("1.3.6.1.4.1.3704.1.3.3", int(tcb.snp)?)?,
        extension("1.3.6.1.4.1.3704.1.3.8", int(tcb.microcode)?)?,
        extension("1.3.6.1.4.1.3704.1.4", chip_id.as_bytes().to_vec())?,
    ])
}

fn name(text: &str) -> Result<Name, SimulationError> {
    Name::from_str(text).map_err(SimulationError::from)
}

fn time(at: UnixTime) -> Result<Time, SimulationError> {
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(at.as_secs()))
        .map(Time::from)
        .map_err(SimulationError::from)
}

fn validity(not_before: UnixTime) -> Result<Validity, SimulationError> {
    let not_after = UnixTime::from_secs(
        not_before
            .as_secs()
            .saturating_add(VALIDITY_YEARS * 365 * 86_400),
    );
    Ok(Validity::new(time(not_before)?, time(not_after)?))
}
