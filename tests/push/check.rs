//! `check`'s Snowflake verdicts: what works, and the fix for the usual failures.

use std::sync::Arc;

use ml_connector::check::CheckItem;
use ml_connector::check::snowflake::check_with_clock;
use ml_connector::snowflake::jwt::system_clock;
use serde_json::json;

use crate::harness::*;

fn find<'a>(items: &'a [CheckItem], name: &str) -> &'a CheckItem {
    items
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no item {name} in {items:#?}"))
}

fn env_for(url: &str, key: &std::path::Path) -> Vec<(String, String)> {
    [
        ("MLC_SNOWFLAKE__ACCOUNT", ACCOUNT.to_string()),
        ("MLC_SNOWFLAKE__USER", USER.to_string()),
        ("MLC_SNOWFLAKE__PRIVATE_KEY_PATH", key.display().to_string()),
        ("MLC_SNOWFLAKE__URL", url.to_string()),
        ("MLC_SNOWFLAKE__WAREHOUSE", "SYNC_WH".to_string()),
        ("MLC_SNOWFLAKE__ROLE", "ML_CONNECTOR_OWNER".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn with(mut e: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    e.retain(|(k, _)| k != key);
    e.push((key.to_string(), value.to_string()));
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_and_fixes() {
    let key = TestKey::generate();
    let other = TestKey::generate();
    // configured and set up: every item passes
    let standin = StandIn::set_up(&key).await;
    let good = env_for(&standin.url, &key.plain);
    let items = check_with_clock(&settings(good.clone()), system_clock()).await;
    assert!(items.iter().all(|i| i.ok), "{items:#?}");
    let jwt = find(&items, "Snowflake JWT");
    assert!(
        jwt.detail.contains(&format!(
            "{ACCOUNT_IN_JWT}.SVC_SYNC.SHA256:{}",
            key.openssl_fingerprint
        )),
        "{jwt:?}"
    );
    assert!(find(&items, "Snowflake SQL API").detail.contains("10.0.0"));
    assert!(
        find(&items, "Snowflake warehouse and setup")
            .detail
            .contains("13 table(s)")
    );

    // a key Snowflake does not know: 390144, the fingerprint to compare is shown
    let items = check_with_clock(
        &settings(env_for(&standin.url, &other.plain)),
        system_clock(),
    )
    .await;
    let api = find(&items, "Snowflake SQL API");
    assert!(!api.ok);
    assert!(
        api.detail.contains("390144") && api.detail.contains("JWT token is invalid"),
        "{api:?}"
    );
    let fix = api.fix.as_deref().unwrap();
    assert!(
        fix.contains(&format!("SHA256:{}", other.openssl_fingerprint)),
        "{fix}"
    );
    assert!(
        fix.contains("DESC USER SVC_SYNC") && fix.contains("RSA_PUBLIC_KEY_FP"),
        "{fix}"
    );
    assert!(fix.contains("account") && fix.contains("clock"), "{fix}");

    // a wrong account: the normalised form the JWT used is shown with the expected format
    let items = check_with_clock(
        &settings(with(
            good.clone(),
            "MLC_SNOWFLAKE__ACCOUNT",
            "xy12345.eu-west-1",
        )),
        system_clock(),
    )
    .await;
    let api = find(&items, "Snowflake SQL API");
    assert!(!api.ok && api.detail.contains("390144"), "{api:?}");
    let fix = api.fix.as_deref().unwrap();
    assert!(
        fix.contains("XY12345") && fix.contains("current_organization_name()"),
        "{fix}"
    );

    // a clock two hours behind: the token is expired on arrival
    let late: ml_connector::snowflake::Clock = Arc::new(|| chrono::Utc::now().timestamp() - 7200);
    let items = check_with_clock(&settings(good.clone()), late).await;
    let api = find(&items, "Snowflake SQL API");
    assert!(!api.ok && api.detail.contains("390198"), "{api:?}");
    assert!(api.fix.as_deref().unwrap().contains("clock"), "{api:?}");

    // a suspended warehouse that does not auto-resume
    standin
        .ctl("warehouse", json!({"name": "SYNC_WH", "suspended": true}))
        .await;
    let items = check_with_clock(&settings(good.clone()), system_clock()).await;
    assert!(
        find(&items, "Snowflake SQL API").ok,
        "current_version() needs no warehouse"
    );
    let wh = find(&items, "Snowflake warehouse and setup");
    assert!(!wh.ok && wh.detail.contains("000606"), "{wh:?}");
    assert!(
        wh.fix.as_deref().unwrap().contains("AUTO_RESUME = TRUE"),
        "{wh:?}"
    );
    standin
        .ctl("warehouse", json!({"name": "SYNC_WH", "suspended": false}))
        .await;

    // not set up: the control table is missing
    let items = check_with_clock(
        &settings(with(good.clone(), "MLC_SNOWFLAKE__DATABASE", "not_set_up")),
        system_clock(),
    )
    .await;
    let setup = find(&items, "Snowflake warehouse and setup");
    assert!(!setup.ok, "{setup:?}");
    assert!(
        setup.fix.as_deref().unwrap().contains("ml-connector sql"),
        "{setup:?}"
    );

    // missing settings are named
    let items = check_with_clock(
        &settings(vec![("MLC_SNOWFLAKE__USER".into(), USER.into())]),
        system_clock(),
    )
    .await;
    assert_eq!(items.len(), 1);
    assert!(!items[0].ok);
    assert!(
        items[0].detail.contains("MLC_SNOWFLAKE__ACCOUNT")
            && items[0].detail.contains("MLC_SNOWFLAKE__PRIVATE_KEY_PATH")
    );
    assert!(!items[0].detail.contains("MLC_SNOWFLAKE__USER"));
    // nothing configured: not a failure (pull mode needs no Snowflake settings)
    let items = check_with_clock(&settings(vec![]), system_clock()).await;
    assert!(items[0].ok && items[0].detail.contains("not configured"));

    // an encrypted key without its passphrase
    let items = check_with_clock(
        &settings(env_for(&standin.url, &key.encrypted)),
        system_clock(),
    )
    .await;
    let k = find(&items, "Snowflake private key");
    assert!(
        !k.ok && k.detail.contains("MLC_SNOWFLAKE__PRIVATE_KEY_PASSPHRASE"),
        "{k:?}"
    );
}
