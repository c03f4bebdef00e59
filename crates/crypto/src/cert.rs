//! Reading Ed25519 X.509 certificates: the checks shared by the MSP and the CA.

use crate::CryptoError;
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::OID_SIG_ED25519;
use x509_parser::x509::{AlgorithmIdentifier, X509Version};

/// Parses a PEM `CERTIFICATE` block into DER. Only the first PEM block is read; a block
/// of another kind (a key, a request) is an error.
pub fn parse_cert_pem(pem: &str) -> Result<Vec<u8>, CryptoError> {
    let block = pem::parse(pem).map_err(|e| CryptoError::Pem { what: "certificate".into(), message: e.to_string() })?;
    if block.tag() != "CERTIFICATE" {
        return Err(CryptoError::Pem {
            what: "certificate".into(),
            message: format!("expected a CERTIFICATE block, found {}", block.tag()),
        });
    }
    Ok(block.into_contents())
}

/// The Ed25519 public key of a DER certificate (parsed, not validated: use
/// [`Msp::validate`](crate::Msp::validate) to check who issued it).
pub fn public_key_from_cert(cert_der: &[u8]) -> Result<VerifyingKey, CryptoError> {
    CertInfo::parse(cert_der)
        .map(|info| info.public_key)
        .map_err(|message| CryptoError::InvalidCertificate { org: String::new(), message })
}

/// What the MSP and CA need to know of a certificate, owned.
pub(crate) struct CertInfo {
    /// DER of the to-be-signed part.
    pub(crate) tbs: Vec<u8>,
    /// The issuer's signature over `tbs`.
    pub(crate) signature: DalekSignature,
    /// DER of the issuer name.
    pub(crate) issuer: Vec<u8>,
    /// DER of the subject name.
    pub(crate) subject: Vec<u8>,
    /// Subject name, for messages.
    pub(crate) issuer_text: String,
    /// The subject's key.
    pub(crate) public_key: VerifyingKey,
    /// BasicConstraints cA.
    pub(crate) is_ca: bool,
    /// KeyUsage keyCertSign, if a KeyUsage extension is present.
    pub(crate) key_cert_sign: Option<bool>,
    /// Subject common names.
    pub(crate) common_names: Vec<String>,
    /// Subject organisational units that are strings.
    pub(crate) units: Vec<String>,
    /// Validity, Unix seconds.
    pub(crate) not_before: i64,
    /// Validity, Unix seconds.
    pub(crate) not_after: i64,
}

/// The DER of `Certificate ::= SEQUENCE { tbs, AlgorithmIdentifier(Ed25519), BIT STRING sig }`.
fn canonical_encoding(tbs: &[u8], signature: &DalekSignature) -> Vec<u8> {
    // AlgorithmIdentifier { 1.3.101.112 } and BIT STRING header (0 unused bits, 64 bytes).
    const TAIL_PREFIX: [u8; 10] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x41, 0x00];
    let body_len = tbs.len() + TAIL_PREFIX.len() + 64;
    let mut out = Vec::with_capacity(body_len + 6);
    out.push(0x30);
    push_der_len(&mut out, body_len);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&TAIL_PREFIX);
    out.extend_from_slice(&signature.to_bytes());
    out
}

fn push_der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn is_ed25519(alg: &AlgorithmIdentifier<'_>) -> bool {
    // RFC 8410: the OID alone, parameters absent.
    alg.algorithm == OID_SIG_ED25519 && alg.parameters.is_none()
}

impl CertInfo {
    /// Parses a DER certificate that is entirely Ed25519 (its key and its signature),
    /// X.509 v3, with no trailing bytes and no critical extension this crate does not
    /// understand. Errors are messages; callers wrap them with context.
    pub(crate) fn parse(der: &[u8]) -> Result<CertInfo, String> {
        let (rest, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} trailing bytes after the certificate", rest.len()));
        }
        let info = Self::from_parsed(&cert)?;
        // The parser tolerates some non-DER framing; the signature covers only the TBS part,
        // so pin the rest: exactly one DER encoding of a given signed certificate is accepted.
        if der != canonical_encoding(&info.tbs, &info.signature) {
            return Err("certificate is not in canonical DER".into());
        }
        Ok(info)
    }

    fn from_parsed(cert: &X509Certificate<'_>) -> Result<CertInfo, String> {
        let tbs = &cert.tbs_certificate;
        if tbs.version() != X509Version::V3 {
            return Err(format!("X.509 version {} (expected v3)", tbs.version().0 + 1));
        }
        if !is_ed25519(&cert.signature_algorithm) || !is_ed25519(&tbs.signature) {
            return Err(format!(
                "signed with algorithm {} (only Ed25519 is accepted)",
                cert.signature_algorithm.algorithm
            ));
        }
        let sig_bits = &cert.signature_value;
        let sig_bytes: [u8; 64] = match (sig_bits.unused_bits, <[u8; 64]>::try_from(sig_bits.data.as_ref())) {
            (0, Ok(bytes)) => bytes,
            _ => return Err("malformed Ed25519 signature value".into()),
        };

        let spki = tbs.public_key();
        if !is_ed25519(&spki.algorithm) {
            return Err(format!("public key algorithm {} (only Ed25519 is accepted)", spki.algorithm.algorithm));
        }
        let key_bytes: [u8; 32] =
            match (spki.subject_public_key.unused_bits, <[u8; 32]>::try_from(spki.subject_public_key.data.as_ref())) {
                (0, Ok(bytes)) => bytes,
                _ => return Err("malformed Ed25519 public key".into()),
            };
        let public_key =
            VerifyingKey::from_bytes(&key_bytes).map_err(|_| "Ed25519 public key is not a curve point".to_string())?;
        // Honest keys are never of small order nor carry a torsion component; rejecting
        // them keeps single and batch verification in agreement (see BatchVerifier).
        if public_key.is_weak() || !public_key.to_edwards().is_torsion_free() {
            return Err("Ed25519 public key is weak (not in the prime-order subgroup)".into());
        }

        for ext in tbs.extensions() {
            let parsed = ext.parsed_extension();
            if let ParsedExtension::ParseError { error } = parsed {
                return Err(format!("malformed extension {}: {error}", ext.oid));
            }
            if ext.critical && parsed.unsupported() {
                return Err(format!("unsupported critical extension {}", ext.oid));
            }
        }
        let basic = tbs.basic_constraints().map_err(|e| format!("basic constraints: {e}"))?;
        let key_usage = tbs.key_usage().map_err(|e| format!("key usage: {e}"))?;

        let strings = |iter: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
            iter.filter_map(|attr| attr.as_str().ok().map(str::to_string)).collect::<Vec<_>>()
        };
        let subject = tbs.subject();
        let common_names = strings(&mut subject.iter_common_name());
        let units = strings(&mut subject.iter_organizational_unit());
        if subject.iter_common_name().count() != common_names.len() {
            return Err("common name is not a string".into());
        }

        Ok(CertInfo {
            tbs: tbs.as_ref().to_vec(),
            signature: DalekSignature::from_bytes(&sig_bytes),
            issuer: tbs.issuer().as_raw().to_vec(),
            subject: subject.as_raw().to_vec(),
            issuer_text: tbs.issuer().to_string(),
            public_key,
            is_ca: basic.is_some_and(|b| b.value.ca),
            key_cert_sign: key_usage.map(|k| k.value.key_cert_sign()),
            common_names,
            units,
            not_before: tbs.validity().not_before.timestamp(),
            not_after: tbs.validity().not_after.timestamp(),
        })
    }

    /// Whether `issuer_key` signed this certificate (strict Ed25519).
    pub(crate) fn signed_by(&self, issuer_key: &VerifyingKey) -> bool {
        issuer_key.verify_strict(&self.tbs, &self.signature).is_ok()
    }

    /// Checks a CA certificate: self-issued, self-signed, a CA, allowed to sign certificates.
    pub(crate) fn check_ca(&self) -> Result<(), String> {
        if !self.is_ca {
            return Err("not a CA certificate (basic constraints cA is not set)".into());
        }
        if self.key_cert_sign == Some(false) {
            return Err("key usage does not allow signing certificates".into());
        }
        if self.issuer != self.subject {
            return Err(format!("not self-issued (issuer is {})", self.issuer_text));
        }
        if !self.signed_by(&self.public_key) {
            return Err("self-signature does not verify".into());
        }
        Ok(())
    }
}
