//! Certificate issuance for an organisation (rcgen, Ed25519) and secret files.

use crate::cert::{parse_cert_pem, CertInfo};
use crate::sign::{parse_key_pem, SigningIdentity};
use crate::{is_valid_org_name, CryptoError};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use rand::rngs::OsRng;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose, SanType, SerialNumber,
};
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use teechain_types::Role;

/// Years a generated CA certificate is valid.
const CA_YEARS: i32 = 20;
/// Years an issued leaf certificate is valid (never beyond its CA).
const LEAF_YEARS: i32 = 10;

/// An Ed25519 key in the shape rcgen signs with.
struct RcgenKey {
    key: SigningKey,
    public: [u8; 32],
}

impl RcgenKey {
    fn new(key: SigningKey) -> Self {
        let public = key.verifying_key().to_bytes();
        RcgenKey { key, public }
    }
}

impl rcgen::PublicKeyData for RcgenKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for RcgenKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// A certificate issued by an [`OrgCa`], with its fresh private key.
#[derive(Clone)]
pub struct IssuedIdentity {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM. Store it with [`write_secret`].
    pub key_pem: String,
    /// The certificate, DER (what an [`Identity`](teechain_types::Identity) carries).
    pub cert_der: Vec<u8>,
}

impl fmt::Debug for IssuedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedIdentity").field("cert_der_len", &self.cert_der.len()).finish_non_exhaustive()
    }
}

impl IssuedIdentity {
    /// The signing identity for organisation `org` made of this certificate and key.
    pub fn signing_identity(&self, org: &str) -> Result<SigningIdentity, CryptoError> {
        SigningIdentity::from_pem(&self.cert_pem, &self.key_pem, org)
    }
}

/// One organisation's certificate authority: its self-signed CA certificate and key. It
/// issues the organisation's identities (admins, clients, peers) whose OU carries the role.
pub struct OrgCa {
    org: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, RcgenKey>,
}

impl fmt::Debug for OrgCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgCa").field("org", &self.org).finish_non_exhaustive()
    }
}

impl OrgCa {
    /// Generates a new CA for `org`: a fresh Ed25519 key and a self-signed certificate with
    /// common name `ca.<org>`, organisation `<org>`, basic constraints cA (path length 0) and
    /// key usage certificate/CRL signing, valid from yesterday for 20 years.
    pub fn generate(org: &str) -> Result<Self, CryptoError> {
        if !is_valid_org_name(org) {
            return Err(CryptoError::InvalidOrgName { org: org.to_string() });
        }
        let what = || format!("CA certificate for {org}");
        let issue_err = |e: rcgen::Error| CryptoError::Issue { what: what(), message: e.to_string() };
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("ca.{org}"));
        dn.push(DnType::OrganizationName, org);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(random_serial());
        set_validity(&mut params, CA_YEARS);
        let key = RcgenKey::new(SigningKey::generate(&mut OsRng));
        let cert = params.self_signed(&key).map_err(issue_err)?;
        Ok(OrgCa { org: org.to_string(), cert_der: cert.der().to_vec(), issuer: Issuer::new(params, key) })
    }

    /// Loads a CA from its certificate (PEM) and PKCS#8 PEM key, checking that the
    /// certificate is a self-signed Ed25519 CA and that the key is its key.
    pub fn load(cert_pem: &str, key_pem: &str, org: &str) -> Result<Self, CryptoError> {
        if !is_valid_org_name(org) {
            return Err(CryptoError::InvalidOrgName { org: org.to_string() });
        }
        let invalid = |message: String| CryptoError::InvalidCa { org: org.to_string(), message };
        let cert_der = parse_cert_pem(cert_pem)?;
        let key = parse_key_pem(key_pem, &format!("CA key of {org}"))?;
        let info = CertInfo::parse(&cert_der).map_err(invalid)?;
        info.check_ca().map_err(invalid)?;
        if info.public_key != key.verifying_key() {
            return Err(CryptoError::KeyMismatch { what: format!("CA of {org}") });
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der.as_slice().into(), RcgenKey::new(key))
            .map_err(|e| invalid(e.to_string()))?;
        Ok(OrgCa { org: org.to_string(), cert_der, issuer })
    }

    /// The organisation this CA speaks for.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        to_pem("CERTIFICATE", self.cert_der.clone())
    }

    /// The CA's private key, PKCS#8 PEM. Store it with [`write_secret`].
    pub fn key_pem(&self) -> String {
        key_to_pem(&self.issuer.key().key)
    }

    /// Issues a leaf certificate with a fresh Ed25519 key: common name `name`,
    /// organisation the CA's, one OU `role.as_str()`, basic constraints not-a-CA, key usage
    /// digital signature, extended key usages TLS server and client authentication, valid
    /// from yesterday for 10 years (not beyond the CA). Subject alternative names: `hosts`
    /// (DNS names or IP addresses), and for [`Role::Peer`] also `localhost` and
    /// `127.0.0.1`, so the certificate serves for mutual TLS between nodes.
    pub fn issue(&self, name: &str, role: Role, hosts: &[String]) -> Result<IssuedIdentity, CryptoError> {
        let what = || format!("certificate '{name}' for {}", self.org);
        let issue_err = |message: String| CryptoError::Issue { what: what(), message };
        if name.is_empty() {
            return Err(issue_err("empty name".into()));
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, self.org.as_str());
        dn.push(DnType::OrganizationalUnitName, role.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());

        let mut names: Vec<String> = Vec::new();
        if role == Role::Peer {
            names.push("localhost".into());
            names.push("127.0.0.1".into());
        }
        for host in hosts {
            if !names.contains(host) {
                names.push(host.clone());
            }
        }
        for host in names {
            let san = match host.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    host.as_str().try_into().map_err(|e| issue_err(format!("host name '{host}': {e}")))?,
                ),
            };
            params.subject_alt_names.push(san);
        }

        set_validity(&mut params, LEAF_YEARS);
        if let Ok((_, ca)) = x509_parser::parse_x509_certificate(&self.cert_der) {
            let ca_end = ca.validity().not_after.to_datetime();
            if params.not_after > ca_end {
                params.not_after = ca_end;
            }
        }

        let key = SigningKey::generate(&mut OsRng);
        let key_pem = key_to_pem(&key);
        let cert = params.signed_by(&RcgenKey::new(key), &self.issuer).map_err(|e| issue_err(e.to_string()))?;
        let cert_der = cert.der().to_vec();
        Ok(IssuedIdentity { cert_pem: to_pem("CERTIFICATE", cert_der.clone()), key_pem, cert_der })
    }
}

fn to_pem(tag: &str, der: Vec<u8>) -> String {
    pem::encode_config(&pem::Pem::new(tag, der), pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

fn key_to_pem(key: &SigningKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.as_str().to_string())
        // Encoding a 32-byte seed as PKCS#8 has no failure case; the error type is generic.
        .expect("an Ed25519 key always encodes as PKCS#8")
}

/// A random positive 128-bit serial number (RFC 5280 allows up to 20 octets).
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40; // positive, and minimal in DER
    SerialNumber::from_slice(&bytes)
}

/// Validity from the start of yesterday (UTC; tolerates clock skew) for `years` years.
fn set_validity(params: &mut CertificateParams, years: i32) {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (y, m, d) = civil_from_days(now.div_euclid(86_400) - 1);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + years, m, d.min(28));
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8, day as u8)
}

/// Writes a secret (a private key PEM) to a new file readable and writable only by its owner
/// (mode 0600 on Unix), and flushes it to disk. Fails with [`CryptoError::SecretExists`] if
/// the file exists: secrets are never silently replaced. A partly written file is removed.
pub fn write_secret(path: &Path, contents: &str) -> Result<(), CryptoError> {
    let display = path.display().to_string();
    let io =
        |op: &'static str, e: std::io::Error| CryptoError::Io { op, path: display.clone(), message: e.to_string() };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CryptoError::SecretExists { path: display.clone() })
        }
        Err(e) => return Err(io("create", e)),
    };
    let written = (|| {
        #[cfg(unix)]
        {
            // The mode passed to open is masked by the umask; set it exactly.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(io("write", e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Msp;
    use teechain_types::Identity;
    use x509_parser::extensions::GeneralName;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn generated_ca_and_leaf_contents() {
        let ca = OrgCa::generate("org1").unwrap();
        assert_eq!(ca.org(), "org1");
        let (_, parsed) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
        assert_eq!(parsed.subject().to_string(), "CN=ca.org1, O=org1");
        assert!(parsed.is_ca());
        assert_eq!(parse_cert_pem(&ca.cert_pem()).unwrap(), ca.cert_der());
        assert!(ca.key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));

        let hosts = vec!["node1.example.org".to_string(), "10.0.0.7".to_string(), "localhost".to_string()];
        let peer = ca.issue("peer0.org1", Role::Peer, &hosts).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&peer.cert_der).unwrap();
        assert_eq!(leaf.subject().to_string(), "CN=peer0.org1, O=org1, OU=peer");
        assert_eq!(leaf.issuer().as_raw(), parsed.subject().as_raw());
        assert!(!leaf.is_ca());
        let sans: Vec<String> = leaf
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(sans, vec!["localhost", "[127, 0, 0, 1]", "node1.example.org", "[10, 0, 0, 7]"]);
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        assert!(leaf.validity().not_after <= parsed.validity().not_after);
        assert!(leaf.validity().is_valid());

        let client = ca.issue("user1", Role::Client, &[]).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&client.cert_der).unwrap();
        assert!(leaf.subject_alternative_name().unwrap().is_none());
        assert_ne!(leaf.raw_serial(), x509_parser::parse_x509_certificate(&peer.cert_der).unwrap().1.raw_serial());

        assert!(matches!(ca.issue("", Role::Client, &[]), Err(CryptoError::Issue { .. })));
        assert!(matches!(ca.issue("x", Role::Peer, &["bad host ☃".into()]), Err(CryptoError::Issue { .. })));
        assert!(matches!(OrgCa::generate("bad org"), Err(CryptoError::InvalidOrgName { .. })));
    }

    #[test]
    fn load_round_trip() {
        let ca = OrgCa::generate("org1").unwrap();
        let loaded = OrgCa::load(&ca.cert_pem(), &ca.key_pem(), "org1").unwrap();
        assert_eq!(loaded.cert_der(), ca.cert_der());
        // Certificates issued by the loaded CA validate against the original CA certificate.
        let msp = Msp::new(&[("org1".into(), ca.cert_der().to_vec())]).unwrap();
        let issued = loaded.issue("admin", Role::Admin, &[]).unwrap();
        let v = msp.validate(&Identity { org: "org1".into(), cert_der: issued.cert_der.clone() }).unwrap();
        assert_eq!((v.role, v.name.as_str()), (Role::Admin, "admin"));
        let id = issued.signing_identity("org1").unwrap();
        assert_eq!(id.public_key(), v.public_key);

        let other = OrgCa::generate("org2").unwrap();
        assert_eq!(
            OrgCa::load(&ca.cert_pem(), &other.key_pem(), "org1").unwrap_err(),
            CryptoError::KeyMismatch { what: "CA of org1".into() }
        );
        assert!(matches!(OrgCa::load(&issued.cert_pem, &issued.key_pem, "org1"), Err(CryptoError::InvalidCa { .. })));
        assert!(matches!(OrgCa::load("junk", &ca.key_pem(), "org1"), Err(CryptoError::Pem { .. })));
        assert!(matches!(OrgCa::load(&ca.cert_pem(), "junk", "org1"), Err(CryptoError::Key { .. })));
    }

    #[test]
    fn secrets_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_secret(&path, "secret one").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            write_secret(&path, "secret two").unwrap_err(),
            CryptoError::SecretExists { path: path.display().to_string() }
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret one");
        let missing_dir = dir.path().join("no/such/dir/key.pem");
        assert!(matches!(write_secret(&missing_dir, "x"), Err(CryptoError::Io { op: "create", .. })));
    }
}
