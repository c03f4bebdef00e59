//! Endorsement policies in Hyperledger Fabric's signature-policy syntax.
//!
//! A policy is a tree of threshold gates over principals:
//!
//! ```text
//! policy    := principal | gate
//! gate      := AND '(' policy (',' policy)* ')'
//!            | OR '(' policy (',' policy)* ')'
//!            | OutOf '(' number ',' policy (',' policy)* ')'
//! principal := "'" org '.' role "'"          (double quotes work too)
//! role      := member | admin | client | peer
//! ```
//!
//! Operator keywords are case-insensitive (`and`, `Or`, `OUTOF`), as Fabric accepts them;
//! roles are lower case, as in Fabric. The organisation is everything before the last `.`
//! of a principal (`'org1.example.com.peer'` names organisation `org1.example.com`) and may
//! contain ASCII letters, digits, `.`, `-` and `_`. Whitespace may appear between tokens.
//!
//! `AND(a, b, ...)` is `OutOf(len, ...)` and `OR(...)` is `OutOf(1, ...)`; that is how
//! [`EndorsementPolicy`] stores them. [`EndorsementPolicy::parse`] bounds its input
//! ([`MAX_POLICY_LEN`], [`MAX_DEPTH`], [`MAX_PRINCIPALS`]), so text from outside can
//! neither exhaust the stack nor make evaluation expensive.
//!
//! Evaluation follows Fabric: every signer (a distinct identity) satisfies at most one
//! principal, so `AND('org1.member','org1.member')` needs two different org1 signers.
//! [`EndorsementPolicy::evaluate`] finds an assignment of signers to principals by an exact
//! backtracking search (Fabric's own evaluator is greedy and can miss one).

use crate::identity::Role;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// Longest policy text [`EndorsementPolicy::parse`] accepts, in bytes.
pub const MAX_POLICY_LEN: usize = 8 * 1024;
/// Deepest nesting of `AND`/`OR`/`OutOf` that [`EndorsementPolicy::parse`] accepts.
pub const MAX_DEPTH: usize = 32;
/// Most principals one parsed policy may name (counting repetitions).
pub const MAX_PRINCIPALS: usize = 256;
/// Search steps [`EndorsementPolicy::evaluate`] may spend before it gives up and reports
/// the policy unsatisfied (fail closed). Real policies need a handful of steps; only a
/// contrived policy evaluated against many signers comes near this. The count depends only
/// on the policy and the multiset of signers, so every node reaches the same verdict.
pub const MAX_EVALUATION_STEPS: u64 = 100_000;

/// The role part of a principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalRole {
    /// Any identity of the organisation, whatever its role.
    Member,
    /// An identity whose certificate carries the `admin` OU.
    Admin,
    /// An identity whose certificate carries the `peer` OU.
    Peer,
    /// An identity whose certificate carries the `client` OU.
    Client,
}

impl PrincipalRole {
    /// The word used in policy text (`member`, `admin`, `peer`, `client`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalRole::Member => "member",
            PrincipalRole::Admin => "admin",
            PrincipalRole::Peer => "peer",
            PrincipalRole::Client => "client",
        }
    }

    /// Parses the role word of a principal (lower case, as Fabric).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(PrincipalRole::Member),
            "admin" => Some(PrincipalRole::Admin),
            "peer" => Some(PrincipalRole::Peer),
            "client" => Some(PrincipalRole::Client),
            _ => None,
        }
    }

    /// Whether an identity with certificate role `role` has this principal role.
    pub fn matches(self, role: Role) -> bool {
        match self {
            PrincipalRole::Member => true,
            PrincipalRole::Admin => role == Role::Admin,
            PrincipalRole::Peer => role == Role::Peer,
            PrincipalRole::Client => role == Role::Client,
        }
    }
}

impl From<Role> for PrincipalRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => PrincipalRole::Admin,
            Role::Client => PrincipalRole::Client,
            Role::Peer => PrincipalRole::Peer,
        }
    }
}

impl fmt::Display for PrincipalRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One principal: a role within an organisation, written `'org.role'`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    /// Organisation (MSP) id.
    pub org: String,
    /// Required role.
    pub role: PrincipalRole,
}

impl Principal {
    /// A principal for `role` in `org`.
    pub fn new(org: impl Into<String>, role: PrincipalRole) -> Self {
        Principal { org: org.into(), role }
    }

    /// Whether a signer of organisation `org` with certificate role `role` is this principal.
    pub fn matches(&self, org: &str, role: Role) -> bool {
        self.org == org && self.role.matches(role)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}.{}'", self.org, self.role)
    }
}

/// An endorsement policy: a threshold tree over principals.
///
/// Values built by [`EndorsementPolicy::parse`] are always well formed
/// (`1 <= n <= children` at every gate). A malformed value built directly in code
/// (`OutOf(0, ..)` or `n` above the number of children) is never satisfied.
///
/// Serialized (serde) as its canonical text, and deserialized through
/// [`EndorsementPolicy::parse`], so decoding applies the same bounds and checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EndorsementPolicy {
    /// Satisfied by one signer matching the principal.
    Signed(Principal),
    /// Satisfied when `n` of the sub-policies are satisfied by disjoint sets of signers.
    OutOf(usize, Vec<EndorsementPolicy>),
}

/// Why policy text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy syntax error at position {position}: {message}")]
pub struct PolicyError {
    /// Byte offset into the text where the problem was found.
    pub position: usize,
    /// What was wrong, or what was expected.
    pub message: String,
}

impl PolicyError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        PolicyError { position, message: message.into() }
    }
}

impl EndorsementPolicy {
    /// Parses policy text in Fabric's syntax (see the [module docs](self)).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_LEN {
            return Err(PolicyError::new(
                MAX_POLICY_LEN,
                format!("policy is {} bytes long; the limit is {MAX_POLICY_LEN}", text.len()),
            ));
        }
        let mut parser = Parser { text, bytes: text.as_bytes(), pos: 0, principals: 0 };
        parser.skip_ws();
        if parser.pos == text.len() {
            return Err(PolicyError::new(parser.pos, "empty policy: expected AND, OR, OutOf or a quoted principal"));
        }
        let policy = parser.policy(0)?;
        parser.skip_ws();
        if parser.pos != text.len() {
            return Err(PolicyError::new(
                parser.pos,
                format!("unexpected {} after the end of the policy", parser.describe_here()),
            ));
        }
        Ok(policy)
    }

    /// A principal as a policy.
    pub fn signed_by(org: impl Into<String>, role: PrincipalRole) -> Self {
        EndorsementPolicy::Signed(Principal::new(org, role))
    }

    /// `AND` of the given policies (all must be satisfied).
    pub fn and(policies: Vec<EndorsementPolicy>) -> Self {
        EndorsementPolicy::OutOf(policies.len(), policies)
    }

    /// `OR` of the given policies (one must be satisfied).
    pub fn or(policies: Vec<EndorsementPolicy>) -> Self {
        EndorsementPolicy::OutOf(1, policies)
    }

    /// A majority of the organisations, each through a signer with `role`:
    /// `OutOf(n/2 + 1, 'org.role', ...)` over the distinct organisations in sorted order.
    /// This is the default lifecycle (chaincode definition) policy. With no organisations
    /// the result is never satisfied.
    pub fn majority(orgs: &[String], role: PrincipalRole) -> Self {
        let distinct: BTreeSet<&String> = orgs.iter().collect();
        let children: Vec<EndorsementPolicy> =
            distinct.into_iter().map(|org| EndorsementPolicy::signed_by(org.clone(), role)).collect();
        EndorsementPolicy::OutOf(children.len() / 2 + 1, children)
    }

    /// Whether the signers satisfy the policy.
    ///
    /// Each element is one distinct identity (its organisation and certificate role);
    /// callers first drop repeated signatures of the same identity, as Fabric does. Each
    /// signer satisfies at most one principal. Signers no principal accepts (other
    /// organisations, other roles) are ignored. The verdict depends only on the multiset of signers, not on their
    /// order.
    pub fn evaluate(&self, signers: &[(String, Role)]) -> bool {
        // Group the relevant signers into classes (org, role) with counts, in sorted order
        // so the search is independent of the signers' order.
        // Signers no principal accepts are dropped, which also sharpens the search's pruning.
        let principals = self.principals();
        let mut classes: BTreeMap<(&str, Role), u32> = BTreeMap::new();
        for (org, role) in signers {
            if principals.iter().any(|p| p.matches(org, *role)) {
                *classes.entry((org.as_str(), *role)).or_insert(0) += 1;
            }
        }
        let keys: Vec<(&str, Role)> = classes.keys().copied().collect();
        let compiled = compile(self, &keys);
        let mut search = Search {
            counts: classes.values().copied().collect(),
            remaining: classes.values().map(|&c| u64::from(c)).sum(),
            steps: 0,
        };
        search.sat(&compiled, &mut |_| true)
    }

    /// The organisations the policy names.
    pub fn orgs(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_orgs(&mut out);
        out
    }

    fn collect_orgs(&self, out: &mut BTreeSet<String>) {
        match self {
            EndorsementPolicy::Signed(p) => {
                if !out.contains(&p.org) {
                    out.insert(p.org.clone());
                }
            }
            EndorsementPolicy::OutOf(_, children) => children.iter().for_each(|c| c.collect_orgs(out)),
        }
    }

    /// The principals the policy names, in order of appearance (with repetitions).
    pub fn principals(&self) -> Vec<&Principal> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(p) = stack.pop() {
            match p {
                EndorsementPolicy::Signed(principal) => out.push(principal),
                EndorsementPolicy::OutOf(_, children) => stack.extend(children.iter().rev()),
            }
        }
        out
    }
}

impl FromStr for EndorsementPolicy {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EndorsementPolicy::parse(s)
    }
}

/// Canonical text: `AND(...)` when every sub-policy is needed, `OR(...)` when one is,
/// `OutOf(n, ...)` otherwise, arguments separated by `", "`, principals in single quotes.
/// For every well-formed value, the text parses back to the same value.
impl fmt::Display for EndorsementPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndorsementPolicy::Signed(p) => p.fmt(f),
            EndorsementPolicy::OutOf(n, children) => {
                if *n == children.len() {
                    f.write_str("AND(")?;
                } else if *n == 1 {
                    f.write_str("OR(")?;
                } else {
                    write!(f, "OutOf({n}, ")?;
                }
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    child.fmt(f)?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Serialize for EndorsementPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EndorsementPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        EndorsementPolicy::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    principals: usize,
}

enum Operator {
    And,
    Or,
    OutOf,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// A description of the input at the current position, for error messages.
    fn describe_here(&self) -> String {
        match self.text.get(self.pos..).and_then(|rest| rest.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "end of input".to_string(),
        }
    }

    fn expected(&self, what: &str) -> PolicyError {
        PolicyError::new(self.pos, format!("expected {what}, found {}", self.describe_here()))
    }

    /// policy := principal | operator '(' ... ')'; `depth` counts enclosing operators.
    fn policy(&mut self, depth: usize) -> Result<EndorsementPolicy, PolicyError> {
        self.skip_ws();
        match self.peek() {
            Some(b'\'' | b'"') => self.principal().map(EndorsementPolicy::Signed),
            Some(c) if c.is_ascii_alphabetic() => self.gate(depth),
            _ => Err(self.expected("AND, OR, OutOf or a quoted principal")),
        }
    }

    fn gate(&mut self, depth: usize) -> Result<EndorsementPolicy, PolicyError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        let op = if word.eq_ignore_ascii_case("and") {
            Operator::And
        } else if word.eq_ignore_ascii_case("or") {
            Operator::Or
        } else if word.eq_ignore_ascii_case("outof") {
            Operator::OutOf
        } else {
            return Err(PolicyError::new(
                start,
                format!("unknown operator '{word}' (expected AND, OR or OutOf; principals are quoted)"),
            ));
        };
        if depth >= MAX_DEPTH {
            return Err(PolicyError::new(start, format!("nesting deeper than {MAX_DEPTH}")));
        }
        self.skip_ws();
        if self.peek() != Some(b'(') {
            return Err(self.expected(&format!("'(' after {word}")));
        }
        self.pos += 1;
        self.skip_ws();

        let threshold = match op {
            Operator::OutOf => {
                let n_pos = self.pos;
                let n = self.number()?;
                self.skip_ws();
                if self.peek() != Some(b',') {
                    return Err(self.expected("',' after the OutOf threshold"));
                }
                self.pos += 1;
                Some((n, n_pos))
            }
            _ => None,
        };

        let mut children = Vec::new();
        loop {
            children.push(self.policy(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.expected("',' or ')'")),
            }
        }

        let n = match (op, threshold) {
            (_, Some((n, n_pos))) => {
                if n == 0 {
                    return Err(PolicyError::new(n_pos, "OutOf threshold must be at least 1"));
                }
                if n > children.len() {
                    return Err(PolicyError::new(
                        n_pos,
                        format!("OutOf threshold {n} exceeds the number of sub-policies ({})", children.len()),
                    ));
                }
                n
            }
            (Operator::Or, None) => 1,
            (_, None) => children.len(),
        };
        Ok(EndorsementPolicy::OutOf(n, children))
    }

    /// An unsigned decimal threshold.
    fn number(&mut self) -> Result<usize, PolicyError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.expected("a number (the OutOf threshold)"));
        }
        self.text[start..self.pos]
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= MAX_PRINCIPALS)
            .ok_or_else(|| PolicyError::new(start, "OutOf threshold is too large"))
    }

    /// principal := quote org '.' role quote
    fn principal(&mut self) -> Result<Principal, PolicyError> {
        let open = self.pos;
        let quote = self.bytes[open];
        let body_start = open + 1;
        let close = match self.bytes[body_start..].iter().position(|&c| c == quote) {
            Some(i) => body_start + i,
            None => return Err(PolicyError::new(open, "unterminated quote")),
        };
        let body = &self.text[body_start..close];
        let dot = match body.rfind('.') {
            Some(i) => i,
            None => return Err(PolicyError::new(body_start, format!("principal '{body}' must be 'org.role'"))),
        };
        let (org, role_text) = (&body[..dot], &body[dot + 1..]);
        if org.is_empty() {
            return Err(PolicyError::new(body_start, "empty organisation name in principal"));
        }
        if let Some((i, c)) = org.char_indices().find(|&(_, c)| !is_org_char(c)) {
            return Err(PolicyError::new(body_start + i, format!("invalid character {c:?} in organisation name")));
        }
        let role = PrincipalRole::parse(role_text).ok_or_else(|| {
            PolicyError::new(
                body_start + dot + 1,
                format!("unknown role '{role_text}' (expected member, admin, client or peer)"),
            )
        })?;
        self.principals += 1;
        if self.principals > MAX_PRINCIPALS {
            return Err(PolicyError::new(open, format!("more than {MAX_PRINCIPALS} principals")));
        }
        self.pos = close + 1;
        Ok(Principal { org: org.to_string(), role })
    }
}

fn is_org_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

// ---------------------------------------------------------------------------------------
// Evaluation

/// The policy with each principal resolved to the signer classes that can satisfy it.
enum Compiled {
    Leaf(Vec<usize>),
    OutOf(usize, Vec<Compiled>),
}

fn compile(policy: &EndorsementPolicy, classes: &[(&str, Role)]) -> Compiled {
    match policy {
        EndorsementPolicy::Signed(p) => Compiled::Leaf(
            classes.iter().enumerate().filter(|(_, (org, role))| p.matches(org, *role)).map(|(i, _)| i).collect(),
        ),
        EndorsementPolicy::OutOf(n, children) => {
            Compiled::OutOf(*n, children.iter().map(|c| compile(c, classes)).collect())
        }
    }
}

/// Backtracking search over assignments of signers to principals. `counts[i]` is how many
/// unassigned signers of class `i` remain. Each function is in continuation-passing style:
/// it tries every way to satisfy its node and calls `k` with the counts left over, returning
/// true as soon as some `k` does. Counts are restored before returning.
struct Search {
    counts: Vec<u32>,
    remaining: u64,
    steps: u64,
}

type Cont<'a> = dyn FnMut(&mut Search) -> bool + 'a;

impl Search {
    fn sat(&mut self, node: &Compiled, k: &mut Cont<'_>) -> bool {
        self.steps += 1;
        if self.steps > MAX_EVALUATION_STEPS {
            return false;
        }
        match node {
            Compiled::Leaf(classes) => {
                for &class in classes {
                    if self.counts[class] > 0 {
                        self.counts[class] -= 1;
                        self.remaining -= 1;
                        let ok = k(self);
                        self.counts[class] += 1;
                        self.remaining += 1;
                        if ok {
                            return true;
                        }
                    }
                }
                false
            }
            Compiled::OutOf(n, children) => {
                if *n == 0 || *n > children.len() {
                    return false; // malformed: fail closed
                }
                self.out_of(children, *n, k)
            }
        }
    }

    /// Satisfies `need` of `children` (choosing in order), then calls `k`.
    fn out_of(&mut self, children: &[Compiled], need: usize, k: &mut Cont<'_>) -> bool {
        if need == 0 {
            return k(self);
        }
        // Each satisfied child consumes at least one signer.
        if children.len() < need || self.remaining < need as u64 || self.steps > MAX_EVALUATION_STEPS {
            return false;
        }
        let (first, rest) = (&children[0], &children[1..]);
        self.sat(first, &mut |s: &mut Search| s.out_of(rest, need - 1, k)) || self.out_of(rest, need, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(text: &str) -> EndorsementPolicy {
        EndorsementPolicy::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn signers(list: &[(&str, Role)]) -> Vec<(String, Role)> {
        list.iter().map(|(o, r)| (o.to_string(), *r)).collect()
    }

    use Role::{Admin as A, Client as C, Peer as P};

    /// (policy text, signers, expected verdict)
    type Case<'a> = (&'a str, &'a [(&'a str, Role)], bool);

    #[test]
    fn evaluation_table() {
        let cases: &[Case<'_>] = &[
            // single principals and roles
            ("'org1.member'", &[("org1", P)], true),
            ("'org1.member'", &[("org1", C)], true),
            ("'org1.member'", &[("org1", A)], true),
            ("'org1.member'", &[("org2", P)], false),
            ("'org1.admin'", &[("org1", P), ("org1", C)], false),
            ("'org1.admin'", &[("org1", A)], true),
            ("'org1.peer'", &[("org1", A)], false),
            ("'org1.peer'", &[("org1", P)], true),
            ("'org1.client'", &[("org1", C)], true),
            ("'org1.client'", &[("org1", P)], false),
            // AND / OR / OutOf
            ("AND('org1.member', 'org2.member')", &[("org1", P), ("org2", P)], true),
            ("AND('org1.member', 'org2.member')", &[("org1", P)], false),
            ("AND('org1.member', 'org2.member')", &[("org2", P), ("org1", C)], true),
            ("OR('org1.member', 'org2.member')", &[("org2", C)], true),
            ("OR('org1.member', 'org2.member')", &[("org3", C)], false),
            ("OutOf(2, 'org1.peer', 'org2.peer', 'org3.peer')", &[("org1", P), ("org3", P)], true),
            ("OutOf(2, 'org1.peer', 'org2.peer', 'org3.peer')", &[("org1", P), ("org3", C)], false),
            ("OutOf(3, 'org1.peer', 'org2.peer', 'org3.peer')", &[("org1", P), ("org2", P), ("org3", P)], true),
            // duplicate principals need distinct signers
            ("AND('org1.member', 'org1.member')", &[("org1", P)], false),
            ("AND('org1.member', 'org1.member')", &[("org1", P), ("org1", P)], true),
            ("AND('org1.member', 'org1.member')", &[("org1", P), ("org1", A)], true),
            ("OutOf(2, 'org1.peer', 'org1.peer', 'org2.peer')", &[("org1", P)], false),
            // an admin signer can fill a member slot or the admin slot, not both
            ("AND('org1.admin', 'org1.member')", &[("org1", A)], false),
            ("AND('org1.admin', 'org1.member')", &[("org1", A), ("org1", C)], true),
            // order matters for a greedy evaluator, not for ours: member must not take the admin
            ("AND('org1.member', 'org1.admin')", &[("org1", A), ("org1", C)], true),
            ("AND(OR('org1.member', 'org2.member'), 'org1.admin')", &[("org1", A), ("org2", P)], true),
            ("AND(OR('org1.member', 'org2.member'), 'org1.admin')", &[("org1", A)], false),
            // nested
            (
                "OR(AND('org1.member', 'org2.member'), AND('org3.admin', 'org4.admin'))",
                &[("org3", A), ("org4", A)],
                true,
            ),
            (
                "OR(AND('org1.member', 'org2.member'), AND('org3.admin', 'org4.admin'))",
                &[("org1", A), ("org4", A)],
                false,
            ),
            (
                "OutOf(2, AND('org1.peer', 'org1.admin'), 'org2.peer', OR('org3.client', 'org1.member'))",
                &[("org1", P), ("org1", A), ("org1", C)],
                true,
            ),
            (
                "OutOf(2, AND('org1.peer', 'org1.admin'), 'org2.peer', OR('org3.client', 'org1.member'))",
                &[("org1", P), ("org1", A)],
                false,
            ),
            // signers from unknown orgs and empty signers
            ("'org1.member'", &[("orgX", P), ("org1.member", P), ("", A)], false),
            ("AND('org1.member', 'org2.member')", &[("org1", P), ("org2", P), ("evil", A)], true),
            ("'org1.member'", &[], false),
            ("OR('org1.member', 'org2.member')", &[], false),
        ];
        for (text, list, expected) in cases {
            let policy = p(text);
            assert_eq!(policy.evaluate(&signers(list)), *expected, "{text} with {list:?}");
            // order of signers does not matter
            let mut reversed = signers(list);
            reversed.reverse();
            assert_eq!(policy.evaluate(&reversed), *expected, "{text} with reversed {list:?}");
        }
    }

    #[test]
    fn malformed_values_never_satisfied() {
        let leaf = EndorsementPolicy::signed_by("org1", PrincipalRole::Member);
        let all = signers(&[("org1", P), ("org1", A)]);
        assert!(!EndorsementPolicy::OutOf(0, vec![leaf.clone()]).evaluate(&all));
        assert!(!EndorsementPolicy::OutOf(2, vec![leaf]).evaluate(&all));
        assert!(!EndorsementPolicy::OutOf(0, vec![]).evaluate(&all));
    }

    #[test]
    fn majority() {
        let orgs: Vec<String> = ["org3", "org1", "org2", "org1"].iter().map(|s| s.to_string()).collect();
        let m = EndorsementPolicy::majority(&orgs, PrincipalRole::Admin);
        assert_eq!(m.to_string(), "OutOf(2, 'org1.admin', 'org2.admin', 'org3.admin')");
        assert!(m.evaluate(&signers(&[("org1", A), ("org3", A)])));
        assert!(!m.evaluate(&signers(&[("org1", A), ("org3", P)])));
        let two: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(EndorsementPolicy::majority(&two, PrincipalRole::Member).to_string(), "AND('a.member', 'b.member')");
        let one: Vec<String> = vec!["a".into()];
        assert_eq!(EndorsementPolicy::majority(&one, PrincipalRole::Peer).to_string(), "AND('a.peer')");
        assert!(!EndorsementPolicy::majority(&[], PrincipalRole::Member).evaluate(&signers(&[("a", A)])));
    }

    #[test]
    fn orgs_and_principals() {
        let policy = p("OR(AND('b.member', 'a.peer'), 'b.admin', 'x.y.client')");
        let orgs: Vec<String> = policy.orgs().into_iter().collect();
        assert_eq!(orgs, vec!["a", "b", "x.y"]);
        let principals: Vec<String> = policy.principals().iter().map(|p| p.to_string()).collect();
        assert_eq!(principals, vec!["'b.member'", "'a.peer'", "'b.admin'", "'x.y.client'"]);
    }

    #[test]
    fn accepted_syntax() {
        let canonical = p("AND('org1.member', 'org2.member')");
        for text in [
            "AND('org1.member','org2.member')",
            "and('org1.member', \"org2.member\")",
            "  And ( 'org1.member' ,\n\t'org2.member' )  ",
            "OutOf(2, 'org1.member', 'org2.member')",
            "outof( 2 ,'org1.member','org2.member')",
            "OUTOF(2,'org1.member','org2.member')",
        ] {
            assert_eq!(p(text), canonical, "{text}");
        }
        assert_eq!(p("'org1.example.com.peer'"), EndorsementPolicy::signed_by("org1.example.com", PrincipalRole::Peer));
        assert_eq!(
            p("Or('Org1MSP.client')"),
            EndorsementPolicy::OutOf(1, vec![EndorsementPolicy::signed_by("Org1MSP", PrincipalRole::Client)])
        );
        assert_eq!(
            "OR('a.peer','b.peer')".parse::<EndorsementPolicy>().map(|x| x.to_string()),
            Ok("OR('a.peer', 'b.peer')".to_string())
        );
    }

    #[test]
    fn parse_errors_with_positions() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "empty policy"),
            ("   ", 3, "empty policy"),
            ("AND('org1.member'", 17, "expected ',' or ')'"),
            ("AND('org1.member' 'org2.member')", 18, "expected ',' or ')'"),
            ("AND('org1.member',)", 18, "expected AND, OR, OutOf or a quoted principal"),
            ("AND()", 4, "expected AND, OR, OutOf or a quoted principal"),
            ("AND 'org1.member'", 4, "expected '(' after AND"),
            ("XOR('org1.member')", 0, "unknown operator 'XOR'"),
            ("AND('org1.boss')", 10, "unknown role 'boss'"),
            ("AND('org1.MEMBER')", 10, "unknown role 'MEMBER'"),
            ("AND('org1.member', 'org2.member)", 19, "unterminated quote"),
            ("'org1.member\"", 0, "unterminated quote"),
            ("'org1'", 1, "must be 'org.role'"),
            ("'.member'", 1, "empty organisation name"),
            ("'or g1.member'", 3, "invalid character ' '"),
            ("OutOf(0, 'org1.member')", 6, "at least 1"),
            ("OutOf(3, 'a.member', 'b.member')", 6, "exceeds the number of sub-policies (2)"),
            ("OutOf('a.member')", 6, "expected a number"),
            ("OutOf(1 'a.member')", 8, "expected ',' after the OutOf threshold"),
            ("OutOf(99999999999999999999999, 'a.member')", 6, "too large"),
            ("'a.member' 'b.member'", 11, "unexpected '\\''"),
            ("AND('a.member'))", 15, "after the end of the policy"),
            ("OR('a.member', é)", 15, "found 'é'"),
            ("OR('a.member', 'é.member')", 16, "invalid character 'é'"),
        ];
        for (text, position, fragment) in cases {
            let err = EndorsementPolicy::parse(text).expect_err(text);
            assert_eq!(err.position, *position, "{text}: {err}");
            assert!(err.message.contains(fragment), "{text}: {err} (wanted {fragment:?})");
            assert!(err.to_string().starts_with(&format!("policy syntax error at position {position}: ")));
        }
    }

    #[test]
    fn depth_and_size_limits() {
        let nest = |depth: usize| format!("{}'a.member'{}", "OR(".repeat(depth), ")".repeat(depth));
        assert!(EndorsementPolicy::parse(&nest(MAX_DEPTH)).is_ok());
        let err = EndorsementPolicy::parse(&nest(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.message, format!("nesting deeper than {MAX_DEPTH}"));
        assert_eq!(err.position, 3 * MAX_DEPTH);
        // Deep nesting far beyond the limit fails fast without exhausting the stack.
        assert!(EndorsementPolicy::parse(&"AND(".repeat(2000)).is_err());

        let long = format!("OR({})", vec!["'a.member'"; 2000].join(","));
        let err = EndorsementPolicy::parse(&long).unwrap_err();
        assert!(err.message.contains("the limit is"), "{err}");

        let many = format!("OR({})", vec!["'a.peer'"; MAX_PRINCIPALS + 1].join(","));
        assert!(many.len() <= MAX_POLICY_LEN);
        let err = EndorsementPolicy::parse(&many).unwrap_err();
        assert!(err.message.contains("principals"), "{err}");
    }

    #[test]
    fn hard_instances_terminate() {
        // 40 principals of one org needing 21 distinct signers, given 20: the search must
        // not enumerate subsets.
        let text = format!("OutOf(21, {})", vec!["'a.member'"; 40].join(", "));
        let policy = p(&text);
        let twenty: Vec<(String, Role)> = (0..20).map(|_| ("a".to_string(), Role::Peer)).collect();
        assert!(!policy.evaluate(&twenty));
        let mut twenty_one = twenty.clone();
        twenty_one.push(("a".to_string(), Role::Client));
        assert!(policy.evaluate(&twenty_one));
        // Unsatisfiable, many assignments to try before the last principal fails: the step
        // budget bounds the work.
        let text = format!("AND({}, 'c.peer')", vec!["OR('a.admin', 'b.admin')"; 30].join(", "));
        let policy = p(&text);
        let mut signers: Vec<(String, Role)> = (0..15).map(|_| ("a".to_string(), Role::Admin)).collect();
        signers.extend((0..15).map(|_| ("b".to_string(), Role::Admin)));
        signers.push(("c".to_string(), Role::Admin));
        assert!(!policy.evaluate(&signers));
        signers.push(("c".to_string(), Role::Peer));
        assert!(policy.evaluate(&signers));
        // AND of many ORs with a scarce class.
        let text = format!("AND({})", vec!["OR('a.admin', 'b.admin')"; 30].join(", "));
        let policy = p(&text);
        let mut signers: Vec<(String, Role)> = (0..15).map(|_| ("a".to_string(), Role::Admin)).collect();
        signers.extend((0..14).map(|_| ("b".to_string(), Role::Admin)));
        assert!(!policy.evaluate(&signers));
        signers.push(("b".to_string(), Role::Admin));
        assert!(policy.evaluate(&signers));
    }

    #[test]
    fn budget_exhaustion_is_quick() {
        let text = format!("AND({}, 'c.peer')", vec!["OR('a.admin', 'b.admin')"; 30].join(", "));
        let policy = p(&text);
        let mut signers: Vec<(String, Role)> = (0..15).map(|_| ("a".to_string(), Role::Admin)).collect();
        signers.extend((0..16).map(|_| ("b".to_string(), Role::Admin)));
        // Unsatisfiable, and C(30, 15) assignments to try: the step budget ends the search
        // (in about 2 ms) with the fail-closed verdict.
        assert!(!policy.evaluate(&signers));
    }

    #[test]
    fn display_round_trip() {
        for text in [
            "'org1.member'",
            "AND('org1.member', 'org2.member')",
            "OR('org1.admin', 'org2.peer', 'org3.client')",
            "OutOf(2, 'org1.peer', 'org2.peer', 'org3.peer')",
            "OR(AND('a.member', OutOf(2, 'b.peer', 'c.peer', OR('d.admin', 'e.client'))), 'f.member')",
            "AND('x.y.z.peer')",
        ] {
            let policy = p(text);
            assert_eq!(policy.to_string(), text);
            assert_eq!(p(&policy.to_string()), policy);
        }
    }

    #[test]
    fn serde_uses_text() {
        let policy = p("OutOf(2, 'org1.peer', 'org2.peer', 'org3.peer')");
        let bytes = crate::codec::encode(&policy);
        let back: EndorsementPolicy = crate::codec::decode(&bytes, crate::codec::Limits::RECORD).unwrap();
        assert_eq!(back, policy);
        let bad = crate::codec::encode("OutOf(0, 'a.peer')");
        assert!(crate::codec::decode::<EndorsementPolicy>(&bad, crate::codec::Limits::RECORD).is_err());
    }

    fn arb_org() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_-][A-Za-z0-9._-]{0,10}"
    }

    fn arb_role() -> impl Strategy<Value = PrincipalRole> {
        prop_oneof![
            Just(PrincipalRole::Member),
            Just(PrincipalRole::Admin),
            Just(PrincipalRole::Peer),
            Just(PrincipalRole::Client),
        ]
    }

    fn arb_policy() -> impl Strategy<Value = EndorsementPolicy> {
        let leaf = (arb_org(), arb_role()).prop_map(|(org, role)| EndorsementPolicy::signed_by(org, role));
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop::collection::vec(inner, 1..5).prop_flat_map(|children| {
                let len = children.len();
                (1..=len).prop_map(move |n| EndorsementPolicy::OutOf(n, children.clone()))
            })
        })
    }

    proptest! {
        #[test]
        fn prop_display_parse_round_trip(policy in arb_policy()) {
            let text = policy.to_string();
            prop_assert_eq!(EndorsementPolicy::parse(&text), Ok(policy));
        }

        #[test]
        fn prop_parse_never_panics(text in any::<String>()) {
            let _ = EndorsementPolicy::parse(&text);
        }

        #[test]
        fn prop_parse_never_panics_policyish(text in "[ANDORutOfandor()'\",0-9a-z. é]{0,80}") {
            if let Ok(policy) = EndorsementPolicy::parse(&text) {
                prop_assert_eq!(EndorsementPolicy::parse(&policy.to_string()), Ok(policy));
            }
        }

        #[test]
        fn prop_evaluate_order_independent(
            policy in arb_policy(),
            list in prop::collection::vec((0usize..4, 0usize..3), 0..6),
        ) {
            let orgs: Vec<String> = policy.orgs().into_iter().collect();
            let roles = [Role::Admin, Role::Client, Role::Peer];
            let signers: Vec<(String, Role)> = list
                .iter()
                .map(|&(o, r)| (orgs.get(o).cloned().unwrap_or_else(|| "other".into()), roles[r]))
                .collect();
            let verdict = policy.evaluate(&signers);
            let mut reversed = signers.clone();
            reversed.reverse();
            prop_assert_eq!(policy.evaluate(&reversed), verdict);
            // More signers never hurt.
            let mut more = signers.clone();
            more.push((orgs[0].clone(), Role::Admin));
            prop_assert!(!verdict || policy.evaluate(&more));
        }
    }
}
