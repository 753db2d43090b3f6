//! Snowflake checks of `check`: settings, the key, a minted JWT, one trivial statement through
//! the SQL API, then one that needs the warehouse and the setup. Each failure says how to fix it.

use super::CheckItem;
use crate::config::{Key, Settings};
use crate::retry::RetryPolicy;
use crate::snowflake::jwt::{self, Clock, normalize_account};
use crate::snowflake::{self, ClientTuning, SqlApiError, SqlErrorKind};

pub async fn check(settings: &Settings) -> Vec<CheckItem> {
    check_with_clock(settings, jwt::system_clock()).await
}

fn item(name: &str, ok: bool, detail: impl Into<String>, fix: Option<String>) -> CheckItem {
    CheckItem {
        name: name.into(),
        ok,
        detail: detail.into(),
        fix,
    }
}

/// [`check`] with the clock injected (tests move it to show the clock-skew verdict).
pub async fn check_with_clock(settings: &Settings, clock: Clock) -> Vec<CheckItem> {
    let s = &settings.snowflake;
    if s.is_unconfigured() {
        return vec![item(
            "Snowflake settings",
            true,
            "not configured: only push mode (`sync`) needs them (MLC_SNOWFLAKE__ACCOUNT, MLC_SNOWFLAKE__USER, MLC_SNOWFLAKE__PRIVATE_KEY_PATH)",
            None,
        )];
    }
    let login = match settings.snowflake_login() {
        Ok(login) => login,
        Err(e) => {
            let vars: Vec<String> = e.keys().into_iter().map(Key::env_var).collect();
            return vec![item(
                "Snowflake settings",
                false,
                format!("missing: {}", vars.join(", ")),
                Some(format!(
                    "set {} (key-pair JWT needs the account, the user and the PKCS#8 private key; see deploy/config.example.toml)",
                    vars.join(", ")
                )),
            )];
        }
    };
    let (account, user) = (login.account, login.user);
    let mut items = Vec::new();

    let key = match snowflake::load_key(settings) {
        Ok(k) => k,
        Err(e) => {
            items.push(item(
                "Snowflake private key",
                false,
                e.to_string(),
                Some(e.fix()),
            ));
            return items;
        }
    };
    let fp = key.fingerprint().to_string();
    let strong = key.bits() >= 2048;
    items.push(item(
        "Snowflake private key",
        strong,
        format!("RSA {} bits, public key fingerprint {fp}", key.bits()),
        (!strong).then(|| {
            "Snowflake needs an RSA key of at least 2048 bits: generate a new one".to_string()
        }),
    ));

    let now = clock();
    match jwt::mint_jwt_with_lifetime(&key, &account, &user, now, 60) {
        Ok((_, claims)) => items.push(item(
            "Snowflake JWT",
            true,
            format!("minted: iss = {}, sub = {}", claims.iss, claims.sub),
            None,
        )),
        Err(e) => {
            items.push(item("Snowflake JWT", false, e.to_string(), None));
            return items;
        }
    }

    let tuning = ClientTuning {
        token_lifetime_secs: 300,
        statement_timeout_secs: 60,
        retry: RetryPolicy {
            initial_backoff: std::time::Duration::from_millis(200),
            max_backoff: std::time::Duration::from_secs(2),
            max_attempts: 3,
            deadline: std::time::Duration::from_secs(20),
        },
        request_timeout: std::time::Duration::from_secs(20),
        ..ClientTuning::default()
    };
    let client = match snowflake::build_client(settings, key, &tuning, clock.clone()) {
        Ok(c) => c,
        Err(e) => {
            items.push(item("Snowflake SQL API", false, e.to_string(), None));
            return items;
        }
    };
    let base = client.config().base_url.to_string();
    match client.execute("select current_version()", &[]).await {
        Ok(r) => items.push(item(
            "Snowflake SQL API",
            true,
            format!(
                "{base} ran `select current_version()` as {}: {}",
                client.tokens().subject(),
                r.rows
                    .first()
                    .and_then(|row| row.first().cloned().flatten())
                    .unwrap_or_default()
            ),
            None,
        )),
        Err(e) => {
            let fix = fix_for(&e, &account, &user, &fp, now, settings);
            items.push(item(
                "Snowflake SQL API",
                false,
                format!("{base}: {e}"),
                Some(fix),
            ));
            return items;
        }
    }

    let sql = crate::startup::sql_settings(settings);
    let table = format!("{}.{}.syspro_sync_control", sql.database, sql.schema);
    match client
        .execute(&format!("select count(*) from {table}"), &[])
        .await
    {
        Ok(r) => items.push(item(
            "Snowflake warehouse and setup",
            true,
            format!(
                "warehouse {} answered; {table} lists {} table(s)",
                s.warehouse.as_deref().unwrap_or("(the user's default)"),
                r.rows
                    .first()
                    .and_then(|row| row.first().cloned().flatten())
                    .unwrap_or_default()
            ),
            None,
        )),
        Err(e) => {
            let fix = fix_for(&e, &account, &user, &fp, now, settings);
            items.push(item(
                "Snowflake warehouse and setup",
                false,
                e.to_string(),
                Some(fix),
            ));
        }
    }
    items
}

/// The usual causes of a refused statement, most likely first.
fn fix_for(
    e: &SqlApiError,
    account: &str,
    user: &str,
    fp: &str,
    now: i64,
    settings: &Settings,
) -> String {
    let code = e.code.as_deref().unwrap_or("");
    let normalized = normalize_account(account);
    let user_up = user.trim().to_ascii_uppercase();
    let clock = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let account_fix = format!(
        "the account: the JWT names it {normalized} (from MLC_SNOWFLAKE__ACCOUNT={account:?}); it must be your orgname-account_name (`select current_organization_name() || '-' || current_account_name()`) or the account locator without its region/cloud suffix"
    );
    let key_fix = format!(
        "the key: `DESC USER {user_up}` must show RSA_PUBLIC_KEY_FP (or RSA_PUBLIC_KEY_2_FP) = {fp}; if not, `ALTER USER {user_up} SET RSA_PUBLIC_KEY='<the public key, without the PEM lines>'` (`openssl rsa -in rsa_key.p8 -pubout`), and check MLC_SNOWFLAKE__USER names that user"
    );
    let clock_fix = format!(
        "this machine's clock: it says {clock}; a clock more than a minute off makes Snowflake refuse the token's issue/expiry time: synchronise it (NTP)"
    );
    match (e.kind, code) {
        (SqlErrorKind::Auth, "390198" | "390318") => format!(
            "Snowflake says the token expired: check {clock_fix}. Then {account_fix}."
        ),
        (SqlErrorKind::Auth, _) => format!(
            "Snowflake refused the key-pair JWT{}. Check, in this order: (1) {account_fix}; (2) {key_fix}; (3) {clock_fix}.",
            if code.is_empty() { String::new() } else { format!(" (code {code})") }
        ),
        // Snowflake's "no active warehouse" (a suspended one that does not resume reads the same)
        _ if code == "000606" || e.sql_state.as_deref() == Some("57P03") => {
            let wh = settings
                .snowflake
                .warehouse
                .clone()
                .unwrap_or_else(|| "<warehouse>".into());
            let role = settings
                .snowflake
                .role
                .clone()
                .unwrap_or_else(|| "<role>".into());
            if settings.snowflake.warehouse.is_none() {
                format!(
                    "no usable warehouse: set MLC_SNOWFLAKE__WAREHOUSE (the user has no default), and `GRANT USAGE ON WAREHOUSE {wh} TO ROLE {role}`"
                )
            } else {
                format!(
                    "the warehouse {wh} is suspended and does not resume by itself, or the role cannot use it: `ALTER WAREHOUSE {wh} SET AUTO_RESUME = TRUE;` (or `ALTER WAREHOUSE {wh} RESUME;`) and `GRANT USAGE, OPERATE ON WAREHOUSE {wh} TO ROLE {role}`"
                )
            }
        }
        (SqlErrorKind::Statement, "002003") => {
            "the setup objects are missing or the role cannot see them: run the setup SQL (`ml-connector sql`) in Snowflake, and set MLC_SNOWFLAKE__ROLE / __DATABASE / __SCHEMA to the owner role and the database/schema it created".into()
        }
        (SqlErrorKind::Statement, _) => format!(
            "Snowflake refused the statement: check MLC_SNOWFLAKE__ROLE, __DATABASE and __SCHEMA (case-sensitive, as SHOW shows them) and the role's grants{}",
            if code.is_empty() { String::new() } else { format!(" (Snowflake code {code})") }
        ),
        (SqlErrorKind::Unavailable | SqlErrorKind::Timeout, _) => format!(
            "Snowflake could not be reached or kept failing: check MLC_SNOWFLAKE__ACCOUNT ({normalized}) or MLC_SNOWFLAKE__URL, DNS, proxies and firewalls (HTTPS to *.snowflakecomputing.com)"
        ),
        _ => "see the detail above".into(),
    }
}
