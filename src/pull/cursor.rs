//! Signed, opaque page cursors. A cursor carries where the next page starts (a SYSPRO
//! [`Position`], which names no host) and is bound to its table and `since`, so a changed,
//! foreign or expired cursor is refused instead of followed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::syspro::Position;

type HmacSha256 = Hmac<Sha256>;

/// Everything a pull needs to continue. The wire names are short (a cursor travels with every
/// page); old cursors without a field read with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// Canonical table name.
    #[serde(rename = "t")]
    pub table: String,
    /// What the pull was called with besides the table, canonical: `since`, `since..until` for
    /// a range, the keys' digest for `SYSPRO_PULL_KEYS`, or none.
    #[serde(rename = "s")]
    pub binding: Option<String>,
    /// The poll id shared by all pages of one pull.
    #[serde(rename = "p")]
    pub poll_id: String,
    /// Number of the next page (1-based).
    #[serde(rename = "n")]
    pub page: u32,
    /// High water so far.
    #[serde(rename = "hw")]
    pub high_water: Option<String>,
    /// Where the next page starts, in SYSPRO's terms.
    #[serde(rename = "pos")]
    pub position: Position,
    /// Issued at, Unix seconds.
    #[serde(rename = "iat")]
    pub issued_at: i64,
    /// Rows delivered by earlier pages (`$skip` paging resumes from here).
    #[serde(rename = "d", default)]
    pub rows_delivered: u64,
    /// The function as the first cursors spelled it: `SYSPRO_KEYS` here, `SYSPRO_PULL` when
    /// neither this nor `function_tag` is set. Read through [`CursorState::function`].
    #[serde(rename = "keys", default, skip_serializing_if = "std::ops::Not::not")]
    keys_function: bool,
    /// The function of the newer cursors (`SYSPRO_PULL_OPEN`, `SYSPRO_DIGESTS`,
    /// `SYSPRO_PULL_KEYS`); absent for the two above, so their cursors read as before.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    function_tag: Option<CursorFunction>,
    /// `SYSPRO_PULL_KEYS`: the run of keys (`Source::key_chunks`) the next page continues.
    #[serde(rename = "c", default, skip_serializing_if = "is_zero")]
    pub key_run: usize,
    /// `SYSPRO_PULL_KEYS`: keys of that run already returned, by their index in the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<u32>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Which function a cursor continues; a cursor is refused by every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorFunction {
    Pull,
    Keys,
    PullOpen,
    Digests,
    PullKeys,
}

impl CursorFunction {
    pub fn sql_name(self) -> &'static str {
        match self {
            CursorFunction::Pull => "SYSPRO_PULL",
            CursorFunction::Keys => "SYSPRO_KEYS",
            CursorFunction::PullOpen => "SYSPRO_PULL_OPEN",
            CursorFunction::Digests => "SYSPRO_DIGESTS",
            CursorFunction::PullKeys => "SYSPRO_PULL_KEYS",
        }
    }
}

impl CursorState {
    /// A cursor of `function` for `table`: the next page is `page` of poll `poll_id`, starting
    /// at `position`; the caller sets what else the pull carries.
    pub fn new(
        function: CursorFunction,
        table: &str,
        binding: Option<String>,
        poll_id: &str,
        page: u32,
        position: Position,
        issued_at: i64,
    ) -> Self {
        CursorState {
            table: table.to_string(),
            binding,
            poll_id: poll_id.to_string(),
            page,
            high_water: None,
            position,
            issued_at,
            rows_delivered: 0,
            keys_function: function == CursorFunction::Keys,
            function_tag: match function {
                CursorFunction::Pull | CursorFunction::Keys => None,
                other => Some(other),
            },
            key_run: 0,
            seen: Vec::new(),
        }
    }

    pub fn function(&self) -> CursorFunction {
        match (self.function_tag, self.keys_function) {
            (Some(f), _) => f,
            (None, true) => CursorFunction::Keys,
            (None, false) => CursorFunction::Pull,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error(
        "cursor is malformed: pass the next_cursor of the previous page unchanged, or NULL to start"
    )]
    Malformed,
    #[error(
        "cursor signature does not verify: it was changed, or issued by a service with another secret"
    )]
    BadSignature,
    #[error(
        "cursor is for table {cursor_table} but the call names {requested}; a cursor only continues its own pull"
    )]
    WrongTable {
        cursor_table: String,
        requested: String,
    },
    #[error(
        "cursor was issued for since = {cursor_since} but the call passes {requested}; pass the same since on every page"
    )]
    WrongSince {
        cursor_since: String,
        requested: String,
    },
    #[error(
        "cursor belongs to {belongs_to}, not to this function; pass each function its own next_cursor"
    )]
    WrongFunction { belongs_to: &'static str },
    #[error(
        "cursor expired {age_secs} s after issue (limit {ttl_secs} s): start the pull again with cursor NULL"
    )]
    Expired { age_secs: i64, ttl_secs: u64 },
}

/// Signs and verifies cursors with a key derived from the service secret, so every replica
/// behind a gateway accepts every other's cursors and a restart does not break a pull.
#[derive(Clone)]
pub struct CursorSigner {
    key: [u8; 32],
    ttl_secs: u64,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorSigner")
            .field("key", &"<redacted>")
            .field("ttl_secs", &self.ttl_secs)
            .finish()
    }
}

const MAX_CURSOR_LEN: usize = 16 * 1024;

impl CursorSigner {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"ml-connector cursor v1\0");
        h.update(secret);
        CursorSigner {
            key: h.finalize().into(),
            ttl_secs,
        }
    }

    pub fn sign(&self, state: &CursorState) -> String {
        let payload = serde_json::to_vec(state).expect("cursor state serialises");
        let body = URL_SAFE_NO_PAD.encode(payload);
        let tag = self.tag(body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Verifies signature, binding and age; `now` is Unix seconds (injected for tests).
    pub fn verify(
        &self,
        cursor: &str,
        table: &str,
        since: Option<&str>,
        function: CursorFunction,
        now: i64,
    ) -> Result<CursorState, CursorError> {
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(CursorError::Malformed);
        }
        let (body, tag) = cursor
            .trim()
            .split_once('.')
            .ok_or(CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Malformed)?;
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(body.as_bytes());
        // verify_slice compares in constant time.
        mac.verify_slice(&tag)
            .map_err(|_| CursorError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CursorError::Malformed)?;
        let state: CursorState =
            serde_json::from_slice(&payload).map_err(|_| CursorError::Malformed)?;
        if state.function() != function {
            return Err(CursorError::WrongFunction {
                belongs_to: state.function().sql_name(),
            });
        }
        if !state.table.eq_ignore_ascii_case(table) {
            return Err(CursorError::WrongTable {
                cursor_table: state.table,
                requested: table.to_string(),
            });
        }
        if state.binding.as_deref() != since {
            return Err(CursorError::WrongSince {
                cursor_since: state.binding.unwrap_or_else(|| "NULL".into()),
                requested: since.unwrap_or("NULL").to_string(),
            });
        }
        let age = now - state.issued_at;
        if age < -300 || age > self.ttl_secs as i64 {
            return Err(CursorError::Expired {
                age_secs: age,
                ttl_secs: self.ttl_secs,
            });
        }
        Ok(state)
    }

    fn tag(&self, body: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> CursorState {
        let mut state = CursorState::new(
            CursorFunction::Pull,
            "ApInvoice",
            Some("2026-11-01T00:00:00".into()),
            "poll-1",
            2,
            Position::After {
                values: vec![
                    serde_json::json!("2026-11-03T00:00:00"),
                    serde_json::json!("ACME"),
                ],
            },
            1_000,
        );
        state.high_water = Some("2026-11-03T00:00:00".into());
        state
    }

    #[test]
    fn the_wire_keeps_its_short_names() {
        let wire = serde_json::to_value(state()).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({
                "t": "ApInvoice", "s": "2026-11-01T00:00:00", "p": "poll-1", "n": 2,
                "hw": "2026-11-03T00:00:00",
                "pos": {"k": "after", "v": ["2026-11-03T00:00:00", "ACME"]},
                "iat": 1_000, "d": 0
            })
        );
        let keys = CursorState::new(
            CursorFunction::Keys,
            "ApInvoice",
            None,
            "p",
            2,
            Position::Offset { rows: 0 },
            1,
        );
        let wire = serde_json::to_value(&keys).unwrap();
        assert_eq!(
            (wire["keys"].clone(), wire.get("f")),
            (serde_json::json!(true), None)
        );
        let back: CursorState = serde_json::from_value(wire).unwrap();
        assert_eq!(back.function(), CursorFunction::Keys);
        let digests = CursorState::new(
            CursorFunction::Digests,
            "ApInvoice",
            None,
            "p",
            2,
            Position::Offset { rows: 0 },
            1,
        );
        assert_eq!(serde_json::to_value(&digests).unwrap()["f"], "digests");
    }

    #[test]
    fn a_cursor_with_a_host_in_its_link_is_refused_as_malformed() {
        // Cursors issued before links were kept relative carried the whole URL: they end cleanly.
        let s = CursorSigner::new(b"secret-one-secret-one", 3600);
        let body = URL_SAFE_NO_PAD.encode(
            br#"{"t":"ApInvoice","s":null,"p":"p","n":2,"hw":null,"pos":{"k":"link","url":"https://erp.example/x?$skip=5","skip":0},"iat":1000,"d":5}"#,
        );
        let old = format!("{body}.{}", URL_SAFE_NO_PAD.encode(s.tag(body.as_bytes())));
        assert_eq!(
            s.verify(&old, "ApInvoice", None, CursorFunction::Pull, 1_100),
            Err(CursorError::Malformed)
        );
    }

    #[test]
    fn a_signed_cursor_round_trips() {
        let s = CursorSigner::new(b"secret-one-secret-one", 3600);
        let c = s.sign(&state());
        assert_eq!(
            s.verify(
                &c,
                "apinvoice",
                Some("2026-11-01T00:00:00"),
                CursorFunction::Pull,
                1_100
            )
            .unwrap(),
            state()
        );
    }

    #[test]
    fn a_changed_cursor_is_refused() {
        let s = CursorSigner::new(b"secret-one-secret-one", 3600);
        let c = s.sign(&state());
        let mut forged = state();
        forged.position = Position::Link {
            relative: "//169.254.169.254/latest/meta-data".into(),
            skip: 0,
        };
        let forged_body = s.sign(&forged);
        let tampered = format!(
            "{}.{}",
            forged_body.split('.').next().unwrap(),
            c.split('.').nth(1).unwrap()
        );
        assert_eq!(
            s.verify(
                &tampered,
                "ApInvoice",
                Some("2026-11-01T00:00:00"),
                CursorFunction::Pull,
                1_100
            ),
            Err(CursorError::BadSignature)
        );
        assert_eq!(
            s.verify(
                "not-a-cursor",
                "ApInvoice",
                None,
                CursorFunction::Pull,
                1_100
            ),
            Err(CursorError::Malformed)
        );
    }

    #[test]
    fn a_foreign_cursor_is_refused() {
        let ours = CursorSigner::new(b"secret-one-secret-one", 3600);
        let theirs = CursorSigner::new(b"secret-two-secret-two", 3600);
        let c = theirs.sign(&state());
        assert_eq!(
            ours.verify(
                &c,
                "ApInvoice",
                Some("2026-11-01T00:00:00"),
                CursorFunction::Pull,
                1_100
            ),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn a_cursor_is_bound_to_table_since_and_age() {
        let s = CursorSigner::new(b"secret-one-secret-one", 3600);
        let c = s.sign(&state());
        assert!(matches!(
            s.verify(
                &c,
                "ApSupplier",
                Some("2026-11-01T00:00:00"),
                CursorFunction::Pull,
                1_100
            ),
            Err(CursorError::WrongTable { .. })
        ));
        assert!(matches!(
            s.verify(&c, "ApInvoice", None, CursorFunction::Pull, 1_100),
            Err(CursorError::WrongSince { .. })
        ));
        assert!(matches!(
            s.verify(
                &c,
                "ApInvoice",
                Some("2026-11-01T00:00:00"),
                CursorFunction::Pull,
                1_000 + 3601
            ),
            Err(CursorError::Expired { .. })
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let s = CursorSigner::new(b"secret-one-secret-one", 3600);
        assert!(format!("{s:?}").contains("redacted"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics_and_never_verifies(s in "\\PC{0,200}") {
            let signer = CursorSigner::new(b"secret-one-secret-one", 3600);
            proptest::prop_assert!(signer.verify(&s, "ApInvoice", None, CursorFunction::Pull, 0).is_err());
        }
    }
}
