//! The membership service provider: which CA speaks for which organisation.

use crate::cert::CertInfo;
use crate::{is_valid_org_name, CryptoError};
use ed25519_dalek::VerifyingKey;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use teechain_types::hash::{sha256_parts, Hash32};
use teechain_types::{Identity, Role};

/// Largest certificate [`Msp::validate`] looks at, in bytes.
pub const MAX_CERT_LEN: usize = 16 * 1024;
/// Default number of validation verdicts an [`Msp`] keeps.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// An identity whose certificate the organisation's CA issued, with what the certificate
/// says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// Organisation (MSP id) whose CA issued the certificate.
    pub org: String,
    /// The role in the certificate's OU.
    pub role: Role,
    /// The subject common name.
    pub name: String,
    /// The certificate's Ed25519 key: what this identity's signatures verify under.
    pub public_key: VerifyingKey,
    /// Start of the certificate's validity, Unix seconds.
    pub not_before: i64,
    /// End of the certificate's validity, Unix seconds.
    pub not_after: i64,
}

impl VerifiedIdentity {
    /// Whether the certificate's validity period contains `unix_seconds` (for example a
    /// block's timestamp; [`Msp::validate`] does not read the clock, so that every node
    /// reaches the same verdict).
    pub fn valid_at(&self, unix_seconds: i64) -> bool {
        self.not_before <= unix_seconds && unix_seconds <= self.not_after
    }
}

struct OrgCaEntry {
    cert_der: Vec<u8>,
    subject: Vec<u8>,
    key: VerifyingKey,
}

type Verdict = Result<Arc<VerifiedIdentity>, CryptoError>;

/// A channel's membership: organisation name → CA certificate. Validates identities and
/// caches the verdicts (valid or not) by SHA-256 of organisation and certificate, in a
/// bounded map behind a read-write lock: a repeated identity costs one hash and a read lock.
///
/// Validation is a pure function of the configuration and the identity (it does not read
/// the clock), so all nodes agree. Certificate expiry, where wanted, is checked by the
/// caller against a deterministic time with [`VerifiedIdentity::valid_at`]. There is no
/// revocation list yet.
pub struct Msp {
    orgs: BTreeMap<String, OrgCaEntry>,
    cache: RwLock<HashMap<Hash32, Verdict>>,
    capacity: usize,
}

impl std::fmt::Debug for Msp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Msp").field("orgs", &self.org_names()).field("cached", &self.cache_len()).finish()
    }
}

impl Msp {
    /// Builds the membership from `(organisation, CA certificate DER)` pairs. Each CA must
    /// be a self-signed Ed25519 CA certificate; organisation names must be valid
    /// ([`is_valid_org_name`](crate::is_valid_org_name)) and distinct, and no two
    /// organisations may share a CA.
    pub fn new(orgs: &[(String, Vec<u8>)]) -> Result<Self, CryptoError> {
        Self::with_cache_capacity(orgs, DEFAULT_CACHE_CAPACITY)
    }

    /// As [`Msp::new`], keeping at most `capacity` cached verdicts (at least one).
    pub fn with_cache_capacity(orgs: &[(String, Vec<u8>)], capacity: usize) -> Result<Self, CryptoError> {
        let mut map = BTreeMap::new();
        for (org, der) in orgs {
            if !is_valid_org_name(org) {
                return Err(CryptoError::InvalidOrgName { org: org.clone() });
            }
            if map.contains_key(org) {
                return Err(CryptoError::DuplicateOrg { org: org.clone() });
            }
            let invalid = |message: String| CryptoError::InvalidCa { org: org.clone(), message };
            let info = CertInfo::parse(der).map_err(invalid)?;
            info.check_ca().map_err(invalid)?;
            if let Some((other, _)) =
                map.iter().find(|(_, e): &(&String, &OrgCaEntry)| e.subject == info.subject || e.key == info.public_key)
            {
                return Err(invalid(format!("same CA name or key as organisation '{other}'")));
            }
            map.insert(org.clone(), OrgCaEntry { cert_der: der.clone(), subject: info.subject, key: info.public_key });
        }
        Ok(Msp { orgs: map, cache: RwLock::new(HashMap::new()), capacity: capacity.max(1) })
    }

    /// The member organisations, sorted.
    pub fn org_names(&self) -> Vec<String> {
        self.orgs.keys().cloned().collect()
    }

    /// Whether `org` is a member.
    pub fn contains_org(&self, org: &str) -> bool {
        self.orgs.contains_key(org)
    }

    /// The CA certificate (DER) of `org`, e.g. for a TLS trust store.
    pub fn ca_cert(&self, org: &str) -> Option<&[u8]> {
        self.orgs.get(org).map(|e| e.cert_der.as_slice())
    }

    /// Validates an identity: its certificate must parse (DER X.509 v3, at most
    /// [`MAX_CERT_LEN`] bytes), be issued by the CA of `identity.org` (issuer name equal
    /// to the CA's subject name and the CA's Ed25519 signature valid), carry an Ed25519
    /// key, have exactly one common name and exactly one OU naming a [`Role`], and not
    /// be a CA certificate. Verdicts, valid or not, are cached.
    pub fn validate(&self, identity: &Identity) -> Result<Arc<VerifiedIdentity>, CryptoError> {
        let Some(ca) = self.orgs.get(&identity.org) else {
            return Err(CryptoError::UnknownOrg { org: identity.org.clone() });
        };
        if identity.cert_der.len() > MAX_CERT_LEN {
            return Err(CryptoError::InvalidCertificate {
                org: identity.org.clone(),
                message: format!("{} bytes long; the limit is {MAX_CERT_LEN}", identity.cert_der.len()),
            });
        }
        let key = sha256_parts(&[identity.org.as_bytes(), &identity.cert_der]);
        if let Some(verdict) = self.read_cache().get(&key) {
            return verdict.clone();
        }
        let verdict = validate_uncached(&identity.org, ca, &identity.cert_der).map(Arc::new);
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = cache.get(&key) {
            // Another thread got here first; keep one Arc per identity.
            return existing.clone();
        }
        if cache.len() >= self.capacity {
            // Evict an arbitrary entry (HashMap order is randomised per process).
            if let Some(victim) = cache.keys().next().copied() {
                cache.remove(&victim);
            }
        }
        cache.insert(key, verdict.clone());
        verdict
    }

    /// Number of cached verdicts.
    pub fn cache_len(&self) -> usize {
        self.read_cache().len()
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Hash32, Verdict>> {
        // The map is only ever inserted into whole entries, so a poisoned lock still guards a
        // consistent map.
        self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn validate_uncached(org: &str, ca: &OrgCaEntry, der: &[u8]) -> Result<VerifiedIdentity, CryptoError> {
    let invalid = |message: String| CryptoError::InvalidCertificate { org: org.to_string(), message };
    let info = CertInfo::parse(der).map_err(invalid)?;
    if info.issuer != ca.subject {
        return Err(CryptoError::NotIssuedBy {
            org: org.to_string(),
            message: format!("issuer is '{}'", info.issuer_text),
        });
    }
    if !info.signed_by(&ca.key) {
        return Err(CryptoError::NotIssuedBy {
            org: org.to_string(),
            message: "the CA's signature does not verify".into(),
        });
    }
    if info.is_ca {
        return Err(invalid("a CA certificate is not an identity".into()));
    }
    let roles: Vec<Role> = info.units.iter().filter_map(|ou| Role::parse(ou)).collect();
    let role = match roles.as_slice() {
        [role] => *role,
        [] => return Err(invalid("no OU names a role (admin, client or peer)".into())),
        _ => return Err(invalid(format!("{} OUs name roles; exactly one must", roles.len()))),
    };
    let name = match info.common_names.as_slice() {
        [name] => name.clone(),
        [] => return Err(invalid("no common name".into())),
        _ => return Err(invalid("more than one common name".into())),
    };
    Ok(VerifiedIdentity {
        org: org.to_string(),
        role,
        name,
        public_key: info.public_key,
        not_before: info.not_before,
        not_after: info.not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{verify, OrgCa, SigningIdentity};

    fn msp_of(cas: &[&OrgCa]) -> Msp {
        Msp::new(&cas.iter().map(|ca| (ca.org().to_string(), ca.cert_der().to_vec())).collect::<Vec<_>>()).unwrap()
    }

    fn identity(org: &str, cert_der: &[u8]) -> Identity {
        Identity { org: org.into(), cert_der: cert_der.to_vec() }
    }

    #[test]
    fn valid_identities_with_roles_and_names() {
        let org1 = OrgCa::generate("org1").unwrap();
        let org2 = OrgCa::generate("org2").unwrap();
        let msp = msp_of(&[&org2, &org1]);
        assert_eq!(msp.org_names(), vec!["org1", "org2"]);
        assert!(msp.contains_org("org1") && !msp.contains_org("org3"));
        assert_eq!(msp.ca_cert("org1"), Some(org1.cert_der()));
        for (name, role) in [("admin1", Role::Admin), ("user1", Role::Client), ("peer0.org1", Role::Peer)] {
            let issued = org1.issue(name, role, &[]).unwrap();
            let verified = msp.validate(&identity("org1", &issued.cert_der)).unwrap();
            assert_eq!(verified.org, "org1");
            assert_eq!(verified.role, role);
            assert_eq!(verified.name, name);
            let signer = SigningIdentity::from_pem(&issued.cert_pem, &issued.key_pem, "org1").unwrap();
            assert_eq!(verified.public_key, signer.public_key());
            assert!(verify(&verified.public_key, b"m", &signer.sign(b"m")).is_ok());
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
            assert!(verified.valid_at(now), "{} .. {}", verified.not_before, verified.not_after);
            assert!(!verified.valid_at(verified.not_after + 1));
        }
    }

    #[test]
    fn foreign_and_mislabelled_certificates_rejected() {
        let org1 = OrgCa::generate("org1").unwrap();
        let org2 = OrgCa::generate("org2").unwrap();
        let impostor = OrgCa::generate("org1").unwrap(); // same name, same DN, other key
        let msp = msp_of(&[&org1, &org2]);

        // Issued by org2 but claiming org1 (and vice versa).
        let from_org2 = org2.issue("user", Role::Client, &[]).unwrap();
        assert!(matches!(
            msp.validate(&identity("org1", &from_org2.cert_der)),
            Err(CryptoError::NotIssuedBy { ref org, .. }) if org == "org1"
        ));
        assert!(msp.validate(&identity("org2", &from_org2.cert_der)).is_ok());

        // An unrelated CA with the same organisation name and DN: the signature fails.
        let forged = impostor.issue("user", Role::Admin, &[]).unwrap();
        assert_eq!(
            msp.validate(&identity("org1", &forged.cert_der)).unwrap_err(),
            CryptoError::NotIssuedBy { org: "org1".into(), message: "the CA's signature does not verify".into() }
        );

        // Unknown organisation, CA certificate presented as an identity.
        assert_eq!(
            msp.validate(&identity("org3", &from_org2.cert_der)).unwrap_err(),
            CryptoError::UnknownOrg { org: "org3".into() }
        );
        assert!(matches!(
            msp.validate(&identity("org1", org1.cert_der())),
            Err(CryptoError::NotIssuedBy { .. } | CryptoError::InvalidCertificate { .. })
        ));
    }

    #[test]
    fn garbage_and_tampered_certificates_rejected() {
        let org1 = OrgCa::generate("org1").unwrap();
        let msp = msp_of(&[&org1]);
        for garbage in
            [&[][..], &[0x30][..], &[0x30, 0x82, 0xff, 0xff][..], &[0u8; 100][..], b"-----BEGIN CERTIFICATE-----"]
        {
            assert!(matches!(msp.validate(&identity("org1", garbage)), Err(CryptoError::InvalidCertificate { .. })));
        }
        let issued = org1.issue("user", Role::Client, &[]).unwrap();
        let good = &issued.cert_der;
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(msp.validate(&identity("org1", &trailing)).is_err());
        assert!(msp.validate(&identity("org1", &good[..good.len() - 1])).is_err());
        assert!(msp.validate(&identity("org1", &vec![0u8; MAX_CERT_LEN + 1])).is_err());
        for i in 0..good.len() {
            for flip in [0x01u8, 0x80] {
                let mut tampered = good.clone();
                tampered[i] ^= flip;
                assert!(msp.validate(&identity("org1", &tampered)).is_err(), "byte {i} ^ {flip:#x} accepted");
            }
        }
        assert!(msp.validate(&identity("org1", good)).is_ok());
    }

    #[test]
    fn cache_returns_the_same_verdict() {
        let org1 = OrgCa::generate("org1").unwrap();
        let org2 = OrgCa::generate("org2").unwrap();
        let msp = msp_of(&[&org1, &org2]);
        let issued = org1.issue("user", Role::Client, &[]).unwrap();
        let id = identity("org1", &issued.cert_der);
        assert_eq!(msp.cache_len(), 0);
        let first = msp.validate(&id).unwrap();
        assert_eq!(msp.cache_len(), 1);
        let second = msp.validate(&id).unwrap();
        // Cached: the very same allocation comes back, no second parse.
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(msp.cache_len(), 1);

        let mut bad = issued.cert_der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let bad_id = identity("org1", &bad);
        let e1 = msp.validate(&bad_id).unwrap_err();
        assert_eq!(msp.cache_len(), 2);
        assert_eq!(msp.validate(&bad_id).unwrap_err(), e1);
        assert_eq!(msp.cache_len(), 2);

        // The cache key covers the org: the same cert under another claim is a new entry.
        assert!(msp.validate(&identity("org2", &issued.cert_der)).is_err());
        assert_eq!(msp.cache_len(), 3);
        assert!(Arc::ptr_eq(&first, &msp.validate(&id).unwrap()));
    }

    #[test]
    fn cache_is_bounded() {
        let org1 = OrgCa::generate("org1").unwrap();
        let cas = [("org1".to_string(), org1.cert_der().to_vec())];
        let msp = Msp::with_cache_capacity(&cas, 3).unwrap();
        for i in 0..10u8 {
            let _ = msp.validate(&identity("org1", &[i; 10]));
            assert!(msp.cache_len() <= 3);
        }
        let issued = org1.issue("user", Role::Peer, &[]).unwrap();
        assert!(msp.validate(&identity("org1", &issued.cert_der)).is_ok());
        assert!(msp.validate(&identity("org1", &issued.cert_der)).is_ok());
    }

    #[test]
    fn msp_configuration_checks() {
        let org1 = OrgCa::generate("org1").unwrap();
        let org2 = OrgCa::generate("org2").unwrap();
        let leaf = org1.issue("peer0", Role::Peer, &[]).unwrap();
        let conf = |list: &[(&str, &[u8])]| {
            Msp::new(&list.iter().map(|(o, d)| (o.to_string(), d.to_vec())).collect::<Vec<_>>())
        };
        assert!(conf(&[]).is_ok());
        assert_eq!(
            conf(&[("org1", org1.cert_der()), ("org1", org2.cert_der())]).unwrap_err(),
            CryptoError::DuplicateOrg { org: "org1".into() }
        );
        assert!(matches!(
            conf(&[("org1", org1.cert_der()), ("org2", org1.cert_der())]),
            Err(CryptoError::InvalidCa { ref org, .. }) if org == "org2"
        ));
        assert!(matches!(conf(&[("org1", &leaf.cert_der)]), Err(CryptoError::InvalidCa { .. })));
        assert!(matches!(conf(&[("org1", b"nope")]), Err(CryptoError::InvalidCa { .. })));
        assert!(matches!(conf(&[("org 1", org1.cert_der())]), Err(CryptoError::InvalidOrgName { .. })));
        assert!(matches!(conf(&[("", org1.cert_der())]), Err(CryptoError::InvalidOrgName { .. })));
    }

    #[test]
    fn msp_is_send_sync_and_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Msp>();
        let org1 = OrgCa::generate("org1").unwrap();
        let msp = Arc::new(msp_of(&[&org1]));
        let issued = org1.issue("user", Role::Client, &[]).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let msp = msp.clone();
                let der = issued.cert_der.clone();
                std::thread::spawn(move || msp.validate(&identity("org1", &der)).map(|v| v.name.clone()))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Ok("user".to_string()));
        }
        assert_eq!(msp.cache_len(), 1);
    }
}
